// emulator.cpp: the CPU FlashAttention-2 forward of analysis/emulator.h (read its kernel
// contract first). Every stage between the products is a call into core/pipeline/ with the
// per-stage arithmetic of the precision policy (pipeline::StagedArithmetic): the emulator owns
// only the layout (tiles, the four row-sum partials of the mma.sync quad, split buffers) and the
// products (analysis/tensor_core_model.h). Not a reference: the references live in references/
// and the tests compare the all-exact emulator against them.
#include "analysis/emulator.h"

#include "analysis/decode_emulator.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/pipeline/arithmetic.h"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"

namespace attn {
namespace {

using pipeline::kNegInf;
constexpr int kMmaK = 16;          // keys / head-dim elements per m16n8k16 k-step
constexpr int kQuadThreads = 4;    // threads sharing one row's columns in the MMA C layout

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::optional<std::string> emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm) {
  if (algorithm.numerics == KernelNumerics::flash_decoding) {
    if (algorithm.fp8.enabled()) return std::string("FP8 operands are a prefill (fa2 numerics) configuration, not a decode one");
    return decode_emulator_invalid_reason(problem, algorithm);
  }
  if (problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    return "the emulator models FP16/BF16 tensor-core kernels; dtype is " + std::string(dtype_name(problem.dtype));
  const TileConfig& t = algorithm.tiles;
  if (t.block_n < kMmaK || t.block_n % kMmaK != 0)
    return "BLOCK_N = " + std::to_string(t.block_n) + " must be a positive multiple of 16 (the MMA k-step)";
  if (t.block_m < 1) return "BLOCK_M = " + std::to_string(t.block_m) + " must be positive";
  if (t.num_splits < 1 || t.num_splits > 64) return "num_splits = " + std::to_string(t.num_splits) + " must be in 1..64";
  if (algorithm.rescale_threshold_log2 < 0) return "rescale_threshold_log2 must be >= 0";
  if (algorithm.fp8.enabled()) {
    if (t.num_splits != 1) return std::string("an FP8 configuration has no split-KV");
    if (t.block_n % 32 != 0) return "FP8: BLOCK_N = " + std::to_string(t.block_n) + " must be a multiple of 32 (the k32 step)";
    if (problem.head_dim % 32 != 0) return "FP8: head_dim must be a multiple of 32 (the k32 step)";
    if (algorithm.p_cast == PCastMode::split_hi_lo) return std::string("FP8: no precise mode");
    if (algorithm.fp8.rotate && (problem.head_dim & (problem.head_dim - 1)) != 0)
      return std::string("FP8: the Hadamard rotation needs a power-of-two head_dim");
  }
  return std::nullopt;
}

void order_tiles(std::vector<int>& tiles, const TileConfig& config, int row_block, int split) {
  if (config.order == KvBlockOrder::reverse) std::reverse(tiles.begin(), tiles.end());
  if (config.order == KvBlockOrder::random) {
    // Fisher-Yates with splitmix64 (portable, unlike std::shuffle), seeded per row block and split.
    uint64_t state = config.order_seed * 0x100000001b3ULL + static_cast<uint64_t>(row_block) * 131 +
                     static_cast<uint64_t>(split);
    for (size_t n = tiles.size(); n > 1; --n) std::swap(tiles[n - 1], tiles[splitmix64(state) % n]);
  }
}

HeadEmulator::HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
                           const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core)
    : algorithm_(algorithm), tensor_core_(tensor_core) {
  if (auto why = emulator_invalid_reason(problem, algorithm)) throw Error("emulator: " + *why);
  tensor_core_.validate();
  tensor_core_.input_min_exponent = format_of(problem.dtype).emin;  // subnormal inputs' nominal exponent
  seqlen_q_ = problem.seqlen_q;
  head_dim_ = problem.head_dim;
  block_m_ = algorithm.tiles.block_m;
  block_n_ = algorithm.tiles.block_n;
  num_splits_ = algorithm.tiles.num_splits;
  dtype_ = problem.dtype;
  scale_ = problem.scale();
  // Semantic mutants change what the kernel reads, before any arithmetic (their reach: semantics.h).
  pipeline::Semantics declared;
  declared.mask = problem.mask;
  declared.gqa = problem.gqa;
  declared.scale = scale_;
  semantics_ = pipeline::plant_bug(declared, algorithm.mutant, is_cache_path(problem), algorithm.tiles.block_n);
  keys_ = pipeline::semantic_keys(semantics_, problem.keys_in_batch(batch));
  const int64_t kv_head = pipeline::semantic_kv_head(semantics_, head_q, problem.num_heads_q, problem.num_heads_kv);
  padded_keys_ = std::max<int64_t>((keys_ + block_n_ - 1) / block_n_ * block_n_, block_n_);

  const int64_t D = head_dim_;
  q_.assign(static_cast<size_t>(seqlen_q_ * D), 0.0);
  k_.assign(static_cast<size_t>(padded_keys_ * D), 0.0);
  vt_.assign(static_cast<size_t>(padded_keys_ * D), 0.0);
  for (int64_t i = 0; i < seqlen_q_; ++i)
    for (int64_t d = 0; d < D; ++d) q_[static_cast<size_t>(i * D + d)] = inputs.q(batch, i, head_q, d);
  for (int64_t j = 0; j < keys_; ++j)
    for (int64_t d = 0; d < D; ++d) {
      k_[static_cast<size_t>(j * D + d)] = inputs.k(batch, j, kv_head, d);
      vt_[static_cast<size_t>(d * padded_keys_ + j)] = inputs.v(batch, j, kv_head, d);
    }
}

int64_t HeadEmulator::row_end(int row_block) const {
  return std::min<int64_t>(row_begin(row_block) + block_m_, seqlen_q_);
}

namespace {

/// The FA2 forward of the kernel contract above.
class Fa2HeadEmulator final : public HeadEmulator {
 public:
  /// `fp8`: the problem's quantized operands for an FP8 configuration (quantize_fp8_operands;
  /// computed here when null).
  Fa2HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
                  const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core, const Fp8HostOperands* fp8);
  std::vector<int> tile_schedule(int row_block, int split) const override;
  void compute_scores(int row_block, bool exact, double* scores) const override;
  void accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy, double* states) const override;
  void finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                     double* lse) const override;

 private:
  // FP8 configurations (the fa3 E4M3 variants): the E4M3 operands (q_, k_, vt_'s layouts) and their scales.
  bool fp8_ = false;
  std::vector<double> q8_, k8_, vt8_;
  std::vector<float> q_scale_;  // per row block
  std::vector<float> k_scale_;  // per key tile
  float v_scale_ = 1.f, rotation_inverse_ = 1.f;
  TensorCoreModel fp8_model_ = TensorCoreModel::hopper_fp8_e4m3();
};

Fa2HeadEmulator::Fa2HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
                                 const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core,
                                 const Fp8HostOperands* fp8)
    : HeadEmulator(problem, inputs, batch, head_q, algorithm, tensor_core) {
  const int64_t D = head_dim_;
  const int64_t kv_head = pipeline::semantic_kv_head(semantics_, head_q, problem.num_heads_q, problem.num_heads_kv);
  fp8_ = algorithm.fp8.enabled();
  if (!fp8_) return;
  Fp8HostOperands own;
  if (fp8 == nullptr) {
    own = quantize_fp8_operands(problem, inputs, algorithm.fp8, block_m_, block_n_);
    fp8 = &own;
  }
  q8_.assign(q_.size(), 0.0);
  k8_.assign(k_.size(), 0.0);
  vt8_.assign(vt_.size(), 0.0);
  for (int64_t i = 0; i < seqlen_q_; ++i)
    for (int64_t d = 0; d < D; ++d) q8_[static_cast<size_t>(i * D + d)] = fp8->q(batch, i, head_q, d);
  for (int64_t j = 0; j < keys_; ++j)
    for (int64_t d = 0; d < D; ++d) {
      k8_[static_cast<size_t>(j * D + d)] = fp8->k(batch, j, kv_head, d);
      vt8_[static_cast<size_t>(d * padded_keys_ + j)] = fp8->v(batch, j, kv_head, d);
    }
  for (int64_t m = 0; m < num_row_blocks(); ++m) q_scale_.push_back(fp8->q_scale_of(batch, head_q, m, problem.num_heads_q));
  for (int64_t t = 0; t < padded_keys_ / block_n_; ++t)  // tiles past the stored keys (a leak mutant): scale 1
    k_scale_.push_back(t < fp8->k_blocks ? fp8->k_scale_of(batch, kv_head, t, problem.num_heads_kv) : 1.f);
  v_scale_ = fp8->v_scale[static_cast<size_t>(batch * problem.num_heads_kv + kv_head)];
  rotation_inverse_ = algorithm.fp8.rotate ? 1.f / static_cast<float>(D) : 1.f;
}

std::vector<int> Fa2HeadEmulator::tile_schedule(int row_block, int split) const {
  // The kernel's tile plan (union of the rows' visible ranges) intersected with the split's tiles.
  const pipeline::TilePlan<int64_t> plan =
      pipeline::plan_tiles<int64_t>(semantics_.mask, row_begin(row_block), row_end(row_block) - 1, seqlen_q_, keys_);
  const pipeline::IndexRange<int64_t> visit = pipeline::visited_tiles(plan, block_n_);
  const int64_t total_tiles = padded_keys_ / block_n_;
  const int64_t per_split = pipeline::keys_per_split_for_count<int64_t>(total_tiles, num_splits_, block_n_);
  const pipeline::IndexRange<int64_t> keys = pipeline::split_key_range<int64_t>(split, per_split, padded_keys_);
  std::vector<int> tiles;
  for (int64_t t = std::max(keys.begin / block_n_, visit.begin); t < std::min(keys.end / block_n_, visit.end); ++t)
    tiles.push_back(static_cast<int>(t));
  order_tiles(tiles, algorithm_.tiles, row_block, split);
  return tiles;
}

void Fa2HeadEmulator::compute_scores(int row_block, bool exact, double* scores) const {
  const int D = static_cast<int>(head_dim_);
  if (fp8_ && !exact) {  // E4M3 operands, k32 steps of the FP8 model; scales enter with the exp stage
    // fill_visible_scores hands rows of q_ / k_; q8_ / k8_ hold the same rows at the same offsets.
    const double* q0 = q_.data();
    const double* k0 = k_.data();
    fill_visible_scores(row_block, scores, [&](const double* q, const double* k) {
      return tc_dot(&q8_[static_cast<size_t>(q - q0)], &k8_[static_cast<size_t>(k - k0)], D, 0.0, fp8_model_);
    });
    return;
  }
  fill_visible_scores(row_block, scores, [&](const double* q, const double* k) {
    if (!exact) return tc_dot(q, k, D, 0.0, tensor_core_);  // MMA k-steps over D from 0
    double s = 0;
    for (int d = 0; d < D; ++d) s += q[d] * k[d];  // double: ~1e-16 relative, the "exact" stage
    return s;
  });
}

void Fa2HeadEmulator::accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy,
                                      double* states) const {
  const pipeline::StagedArithmetic a(policy, dtype_, fp8_, algorithm_.fp8.fma_exp_period);
  const bool rescale_exact = policy.exact(Stage::rescale), cast_exact = policy.exact(Stage::p_cast);
  const bool pv_exact = policy.exact(Stage::pv_accumulate);
  const bool fp8_scores = fp8_ && !policy.exact(Stage::qk_product), fp8_pv = fp8_ && !pv_exact;
  const bool precise = algorithm_.p_cast == PCastMode::split_hi_lo && !cast_exact;
  const Mutant bug = a.numeric_bug(algorithm_.mutant);
  const auto rule = pipeline::RescaleRule<double>::lazy_by(algorithm_.rescale_threshold_log2);
  const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_, BN = block_n_;
  const double scale_log2 = a.scale_log2(scale_);  // the kernel's FP32 scale; exact: the exact product
  // Row-sum slices: as the kernel, the four threads of a quad each sum their columns 8n + 2q + c
  // (n ascending, then c); the exact rescale stage sums the tile in key order in one slice.
  const int slices = rescale_exact ? 1 : kQuadThreads;
  const int slice_len = static_cast<int>(BN) / slices;
  std::vector<double> p(static_cast<size_t>(BN)), p_hi(static_cast<size_t>(BN)), p_lo(static_cast<size_t>(BN));
  std::vector<std::vector<int>> schedules;
  for (int split = 0; split < num_splits_; ++split) schedules.push_back(tile_schedule(row_block, split));

  for (int64_t i = r0; i < r1; ++i) {
    const double* row = scores + (i - r0) * padded_keys_;
    for (int split = 0; split < num_splits_; ++split) {
      double* acc = states + ((i - r0) * num_splits_ + split) * state_stride();
      std::fill(acc, acc + D, 0.0);
      double m = kNegInf;
      double l[kQuadThreads] = {0, 0, 0, 0};
      for (int tile : schedules[static_cast<size_t>(split)]) {
        const double* s = row + static_cast<int64_t>(tile) * BN;
        // FP8 scores are in the operands' units: the tile's score scale takes the Q block's and
        // the K tile's scales (pipeline::fp8_score_scale_log2; exact exp stage: in double).
        double tile_scale_log2 = scale_log2;
        if (fp8_scores) {
          const float qs = q_scale_[static_cast<size_t>(row_block)], ks = k_scale_[static_cast<size_t>(tile)];
          tile_scale_log2 = policy.exact(Stage::exp)
                                ? scale_log2 * qs * ks * rotation_inverse_
                                : pipeline::fp8_score_scale_log2(static_cast<float>(scale_log2), qs, ks, rotation_inverse_);
        }
        std::copy(s, s + BN, p.begin());
        auto whole = [&](int k) -> double& { return p[static_cast<size_t>(k)]; };
        const double tile_max = a.scale_max(pipeline::slice_max(a, whole, static_cast<int>(BN)), tile_scale_log2);
        const pipeline::RescaleStep<double> step = pipeline::rescale_step(a, m, tile_max, rule, bug);
        m = step.m_new;
        for (int q = 0; q < slices; ++q) {
          auto slice = [&](int k) -> double& {
            return p[static_cast<size_t>(slices == 1 ? k : 8 * (k / 2) + 2 * q + k % 2)];
          };
          // The n8 column block of slice element k (the FP8 exp's MUFU / FMA-pipe split, ex2_fma.h).
          auto block_of = [&](int k) { return slices == 1 ? k / 8 : k / 2; };
          l[q] = a.row_sum_update(l[q], step.alpha,
                                  pipeline::exp_slice(a, slice, slice_len, tile_scale_log2, step.m_for_p, block_of));
        }
        for (int64_t d = 0; d < D; ++d) acc[d] = pipeline::rescale_o(a, acc[d], step.alpha);
        for (int64_t j = 0; j < BN; j += 2) {  // p_cast stage, column pairs as the A fragment holds them
          const auto hi = pipeline::cast_p_pair(a, p[static_cast<size_t>(j)], p[static_cast<size_t>(j + 1)]);
          p_hi[static_cast<size_t>(j)] = hi.first;
          p_hi[static_cast<size_t>(j + 1)] = hi.second;
          if (!precise) continue;
          const auto lo = pipeline::cast_p_lo_pair(a, hi, p[static_cast<size_t>(j)], p[static_cast<size_t>(j + 1)]);
          p_lo[static_cast<size_t>(j)] = lo.first;
          p_lo[static_cast<size_t>(j + 1)] = lo.second;
        }
        // pv_accumulate stage: one MMA per 16 keys (FP8: 32, any order inside a step: one add),
        // ascending inside the tile.
        const int64_t key0 = static_cast<int64_t>(tile) * BN;
        for (int64_t d = 0; d < D; ++d) {
          const double* v = &(fp8_pv ? vt8_ : vt_)[static_cast<size_t>(d * padded_keys_ + key0)];
          double o = acc[d];
          if (pv_exact) {
            for (int64_t j = 0; j < BN; ++j) o += p_hi[static_cast<size_t>(j)] * v[j];
            if (precise)  // the lo half is part of the kernel's P even when the products are exact
              for (int64_t j = 0; j < BN; ++j) o += p_lo[static_cast<size_t>(j)] * v[j];
          } else if (fp8_) {
            for (int64_t k0 = 0; k0 < BN; k0 += fp8_model_.group_size)
              o = tc_group_fma(&p_hi[static_cast<size_t>(k0)], v + k0, fp8_model_.group_size, o, fp8_model_);
          } else {
            for (int64_t k0 = 0; k0 < BN; k0 += kMmaK) {
              o = tc_group_fma(&p_hi[static_cast<size_t>(k0)], v + k0, kMmaK, o, tensor_core_);
              if (precise) o = tc_group_fma(&p_lo[static_cast<size_t>(k0)], v + k0, kMmaK, o, tensor_core_);
            }
          }
          acc[d] = o;
        }
      }
      // The quad's partial sums meet as the shuffles add them: (l0 + l1) + (l2 + l3).
      acc[D] = slices == 1 ? l[0] : a.row_sum_add(a.row_sum_add(l[0], l[1]), a.row_sum_add(l[2], l[3]));
      acc[D + 1] = m;
    }
  }
}

void Fa2HeadEmulator::finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                                    double* lse) const {
  const pipeline::StagedArithmetic a(policy, dtype_, fp8_);
  const bool round_exact = policy.exact(Stage::output_round);
  // FP8 with quantized V: V's scale joins the normalizer (kernel: RN(RN(1/l) v_scale), fp8.h).
  const bool fp8_pv = fp8_ && !policy.exact(Stage::pv_accumulate);
  const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_;
  std::vector<double> split_out(static_cast<size_t>(num_splits_ * D));
  std::vector<double> split_lse2(static_cast<size_t>(num_splits_));
  for (int64_t i = r0; i < r1; ++i) {
    double* o = out + (i - r0) * D;
    double lse_natural = kNegInf;
    // Per split: normalize (normalize stage) and the base-2 LSE (pv_accumulate stage).
    for (int split = 0; split < num_splits_; ++split) {
      const double* st = states + ((i - r0) * num_splits_ + split) * state_stride();
      const double l = st[D], m = st[D + 1];
      double* os = &split_out[static_cast<size_t>(split * D)];
      double factor = pipeline::row_normalizer(a, l);
      const bool normalize_exact = policy.exact(Stage::normalize);
      if (fp8_pv && !normalize_exact) factor = pipeline::fp8_output_factor(static_cast<float>(factor), v_scale_);
      const double v_scale_exact = fp8_pv && normalize_exact ? static_cast<double>(v_scale_) : 1.0;
      for (int64_t d = 0; d < D; ++d)  // +0 when empty
        os[d] = l > 0 ? pipeline::normalize(a, st[d] * v_scale_exact, factor) : 0.0;
      split_lse2[static_cast<size_t>(split)] = pipeline::split_lse(a, m, l, semantics_.combine);
    }
    if (num_splits_ == 1) {
      std::copy(split_out.begin(), split_out.begin() + D, o);
      const double* st = states + (i - r0) * state_stride();
      lse_natural = pipeline::row_lse(a, st[D + 1], st[D]);
    } else {
      auto lse_of = [&](int s) { return split_lse2[static_cast<size_t>(s)]; };
      auto out_of = [&](int s) { return &split_out[static_cast<size_t>(s) * static_cast<size_t>(D)]; };
      pipeline::combine_splits(a, num_splits_, lse_of, out_of, D, o, semantics_.combine);
      // LSE output (not a stage): the split LSEs combined in double.
      lse_natural = pipeline::combine_lse(pipeline::ExactArithmetic{}, num_splits_, lse_of, pipeline::LseCombine::matched) *
                    pipeline::kLn2;
    }
    if (!round_exact)
      for (int64_t d = 0; d < D; ++d) o[d] = round_to(dtype_, o[d]);  // output_round stage (RNE)
    lse[i - r0] = lse_natural;
  }
}

}  // namespace

std::unique_ptr<HeadEmulator> make_head_emulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch,
                                                 int64_t head_q, const AlgorithmConfig& algorithm,
                                                 const TensorCoreModel& tensor_core, const Fp8HostOperands* fp8) {
  if (algorithm.numerics == KernelNumerics::flash_decoding)
    return make_decode_head_emulator(problem, inputs, batch, head_q, algorithm, tensor_core);
  return std::make_unique<Fa2HeadEmulator>(problem, inputs, batch, head_q, algorithm, tensor_core, fp8);
}

AttentionOutputs emulate_attention(const Problem& problem, const AttentionInputs& inputs, const EmulatorConfig& config) {
  problem.validate();
  if (auto why = emulator_invalid_reason(problem, config.algorithm)) throw Error("emulator: " + *why);
  AttentionOutputs result;
  result.out_dtype = problem.dtype;
  result.o = Tensor<double>(problem.q_shape());
  result.lse = Tensor<double>(problem.lse_shape(), kNegInf);
  const int64_t D = problem.head_dim;
  const int64_t blocks_per_head = (problem.seqlen_q + config.algorithm.tiles.block_m - 1) / config.algorithm.tiles.block_m;
  const int64_t heads = problem.batch * problem.num_heads_q;
  // FP8: the quantized operands of the whole problem, once (per-tensor scales need every head).
  std::optional<Fp8HostOperands> fp8;
  if (config.algorithm.fp8.enabled())
    fp8 = quantize_fp8_operands(problem, inputs, config.algorithm.fp8, config.algorithm.tiles.block_m,
                                config.algorithm.tiles.block_n);
  // Work items: (batch, head, row block); each builds its head view (cheap next to the tile math).
  parallel_for(heads * blocks_per_head, config.threads, [&](int64_t item) {
    const int64_t head_index = item / blocks_per_head, b = head_index / problem.num_heads_q,
                  h = head_index % problem.num_heads_q;
    const int row_block = static_cast<int>(item % blocks_per_head);
    const std::unique_ptr<HeadEmulator> head =
        make_head_emulator(problem, inputs, b, h, config.algorithm, config.tensor_core, fp8 ? &*fp8 : nullptr);
    const int64_t rows = head->row_end(row_block) - head->row_begin(row_block);
    std::vector<double> scores(static_cast<size_t>(rows * head->padded_keys()));
    std::vector<double> states(static_cast<size_t>(rows * head->num_splits() * head->state_stride()));
    std::vector<double> out(static_cast<size_t>(rows * D)), lse(static_cast<size_t>(rows));
    head->compute_scores(row_block, config.policy.exact(Stage::qk_product), scores.data());
    head->accumulate_rows(row_block, scores.data(), config.policy, states.data());
    head->finalize_rows(row_block, states.data(), config.policy, out.data(), lse.data());
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = head->row_begin(row_block) + r;
      for (int64_t d = 0; d < D; ++d) result.o(b, i, h, d) = out[static_cast<size_t>(r * D + d)];
      result.lse(b, h, i) = lse[static_cast<size_t>(r)];
    }
  });
  return result;
}

}  // namespace attn
