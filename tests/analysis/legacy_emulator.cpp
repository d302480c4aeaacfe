// legacy_emulator.cpp: the pre-pipeline emulator (see legacy_emulator.h); was analysis/emulator.cpp,
// the CPU FlashAttention-2 forward of analysis/emulator.h (read its kernel
// contract first: every rounding below is one line of it). Not a reference: the references live
// in references/ and the tests compare the all-exact emulator against them.
#include "tests/analysis/legacy_emulator.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "core/errors.h"

namespace attn::legacy {
namespace {

constexpr double kLog2e = 1.4426950408889634074;
constexpr double kLn2 = 0.6931471805599453094;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr int kMmaK = 16;          // keys / head-dim elements per m16n8k16 k-step
constexpr int kQuadThreads = 4;    // threads sharing one row's columns in the MMA C layout

double rn32(double x) { return static_cast<double>(static_cast<float>(x)); }  // FP32 RNE
/// ex2.approx.ftz.f32 modelled as the correctly rounded exp2f, FP32 subnormal results flushed.
double ex2_kernel(double x) {
  const double r = rn32(std::exp2(x));
  return r < static_cast<double>(std::numeric_limits<float>::min()) ? 0.0 : r;
}
/// fma_rn(a, b, c) in FP32; a may be a non-FP32 double (exact-qk mixed policies): one rounding.
double fma32(double a, double b, double c) {
  const float af = static_cast<float>(a);
  if (static_cast<double>(af) == a) return static_cast<double>(std::fmaf(af, static_cast<float>(b), static_cast<float>(c)));
  return rn32(std::fma(a, b, c));
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

bool is_cache_path(const Problem& problem) {
  return !problem.seqlens_k.empty() || problem.seqlen_q < problem.seqlen_k;
}

std::optional<std::string> emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm) {
  if (problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    return "the emulator models FP16/BF16 tensor-core kernels; dtype is " + std::string(dtype_name(problem.dtype));
  const TileConfig& t = algorithm.tiles;
  if (t.block_n < kMmaK || t.block_n % kMmaK != 0)
    return "BLOCK_N = " + std::to_string(t.block_n) + " must be a positive multiple of 16 (the MMA k-step)";
  if (t.block_m < 1) return "BLOCK_M = " + std::to_string(t.block_m) + " must be positive";
  if (t.num_splits < 1 || t.num_splits > 64) return "num_splits = " + std::to_string(t.num_splits) + " must be in 1..64";
  if (algorithm.rescale_threshold_log2 < 0) return "rescale_threshold_log2 must be >= 0";
  return std::nullopt;
}

void parallel_for(int64_t count, int threads, const std::function<void(int64_t)>& body) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<int64_t>(threads, count));
  if (threads <= 1) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    for (int64_t i = next++; i < count && !failed; i = next++) {
      try {
        body(i);
      } catch (...) {
        if (!failed.exchange(true)) failure = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads - 1; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

HeadEmulator::HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
                           const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core)
    : algorithm_(algorithm), tensor_core_(tensor_core) {
  if (auto why = legacy::emulator_invalid_reason(problem, algorithm)) throw Error("emulator: " + *why);
  tensor_core_.validate();
  tensor_core_.input_min_exponent = format_of(problem.dtype).emin;  // subnormal inputs' nominal exponent
  const bool cache_path = legacy::is_cache_path(problem);
  const Mutant mutant = algorithm.mutant;
  seqlen_q_ = problem.seqlen_q;
  head_dim_ = problem.head_dim;
  block_m_ = algorithm.tiles.block_m;
  block_n_ = algorithm.tiles.block_n;
  num_splits_ = algorithm.tiles.num_splits;
  dtype_ = problem.dtype;
  scale_ = problem.scale();
  mask_ = problem.mask;
  keys_ = problem.keys_in_batch(batch);
  // Semantic mutants change what the kernel reads, before any arithmetic (cache path only).
  if (cache_path && mutant == Mutant::stale_seqlens) keys_ = std::max<int64_t>(keys_ - 1, 0);
  if (cache_path && mutant == Mutant::top_left_in_cache_path && mask_.kind == MaskKind::causal_bottom_right)
    mask_.kind = MaskKind::causal_top_left;
  const GqaMapping mapping =
      (cache_path && mutant == Mutant::interleaved_gqa_in_cache_path) ? GqaMapping::interleaved : problem.gqa;
  const int64_t kv_head = kv_head_for(head_q, problem.num_heads_q, problem.num_heads_kv, mapping);
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

bool HeadEmulator::visible(int64_t i, int64_t j) const {
  if (algorithm_.mutant == Mutant::unmasked_tile_edges && j >= keys_ && j < padded_keys_ && keys_ > 0)
    return key_visible(mask_, i, keys_ - 1, seqlen_q_, keys_);  // the bounds check the mutant lacks
  return key_visible(mask_, i, j, seqlen_q_, keys_);
}

std::vector<int> HeadEmulator::tile_schedule(int row_block, int split) const {
  // Tiles any row of the block may see: the union of the rows' ranges (first/last are
  // nondecreasing in i for every mask of core/mask.h), as the kernel's tile plan computes it.
  const int64_t first_row = row_begin(row_block), last_row = row_end(row_block) - 1;
  const KeyRange top = visible_key_range(mask_, first_row, seqlen_q_, keys_);
  const KeyRange bottom = visible_key_range(mask_, last_row, seqlen_q_, keys_);
  const int64_t key_begin = top.first, key_end = bottom.last;
  std::vector<int> tiles;
  if (key_end <= key_begin) return tiles;
  const int total_tiles = static_cast<int>(padded_keys_ / block_n_);
  const int tiles_per_split = (total_tiles + num_splits_ - 1) / num_splits_;
  const int split_first = split * tiles_per_split, split_last = std::min(total_tiles, (split + 1) * tiles_per_split);
  const int visit_first = static_cast<int>(key_begin / block_n_);
  const int visit_last = static_cast<int>((key_end + block_n_ - 1) / block_n_);
  for (int t = std::max(split_first, visit_first); t < std::min(split_last, visit_last); ++t) tiles.push_back(t);
  if (algorithm_.tiles.order == KvBlockOrder::reverse) std::reverse(tiles.begin(), tiles.end());
  if (algorithm_.tiles.order == KvBlockOrder::random) {
    // Fisher-Yates with splitmix64 (portable, unlike std::shuffle), seeded per row block and split.
    uint64_t state = algorithm_.tiles.order_seed * 0x100000001b3ULL + static_cast<uint64_t>(row_block) * 131 +
                     static_cast<uint64_t>(split);
    for (size_t n = tiles.size(); n > 1; --n) std::swap(tiles[n - 1], tiles[splitmix64(state) % n]);
  }
  return tiles;
}

void HeadEmulator::compute_scores(int row_block, bool exact, double* scores) const {
  const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_;
  std::fill(scores, scores + (r1 - r0) * padded_keys_, kNegInf);
  for (int split = 0; split < num_splits_; ++split)
    for (int tile : tile_schedule(row_block, split))
      for (int64_t i = r0; i < r1; ++i) {
        const double* q = &q_[static_cast<size_t>(i * D)];
        double* row = scores + (i - r0) * padded_keys_;
        for (int64_t j = tile * block_n_; j < (tile + 1) * block_n_; ++j) {
          if (!visible(i, j)) continue;  // masking: -inf (already filled)
          const double* k = &k_[static_cast<size_t>(j * D)];
          if (exact) {
            double s = 0;
            for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];  // double: ~1e-16 relative, the "exact" stage
            row[j] = s;
          } else {
            row[j] = tc_dot(q, k, static_cast<int>(D), 0.0, tensor_core_);  // MMA k-steps over D from 0
          }
        }
      }
}

void HeadEmulator::accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy,
                                   double* states) const {
  const bool exp_exact = policy.exact(Stage::exp), rescale_exact = policy.exact(Stage::rescale);
  const bool cast_exact = policy.exact(Stage::p_cast), pv_exact = policy.exact(Stage::pv_accumulate);
  const bool precise = algorithm_.p_cast == PCastMode::split_hi_lo && !cast_exact;
  const Mutant mutant = algorithm_.mutant;
  const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_, BN = block_n_;
  // The kernel's FP32 scale; the exact stage uses the exact product.
  const double scale_log2 = exp_exact ? scale_ * kLog2e : rn32(scale_ * kLog2e);
  const double threshold = algorithm_.rescale_threshold_log2;
  std::vector<double> p(static_cast<size_t>(BN)), p_hi(static_cast<size_t>(BN)), p_lo(static_cast<size_t>(BN));
  std::vector<std::vector<int>> schedules;
  for (int split = 0; split < num_splits_; ++split) schedules.push_back(tile_schedule(row_block, split));

  for (int64_t i = r0; i < r1; ++i) {
    const double* row = scores + (i - r0) * padded_keys_;
    for (int split = 0; split < num_splits_; ++split) {
      double* acc = states + ((i - r0) * num_splits_ + split) * state_stride();
      std::fill(acc, acc + D, 0.0);
      double m = kNegInf;
      double l_exact = 0;
      double l_quad[kQuadThreads] = {0, 0, 0, 0};
      for (int tile : schedules[static_cast<size_t>(split)]) {
        const double* s = row + static_cast<int64_t>(tile) * BN;
        double raw_max = kNegInf;
        for (int64_t j = 0; j < BN; ++j) raw_max = std::max(raw_max, s[j]);
        // exp stage owns the scaled max: one FP32 rounding of max * scale_log2.
        const double tile_max = raw_max == kNegInf ? kNegInf : (exp_exact ? raw_max * scale_log2 : rn32(raw_max * scale_log2));
        const double m_old = m;
        double m_new = m_old;
        const double lazy_bound = rescale_exact ? m_old + threshold : rn32(m_old + threshold);
        if (m_old == kNegInf || tile_max > lazy_bound) m_new = std::max(m_old, tile_max);
        const double m_sub = m_new == kNegInf ? 0.0 : m_new;  // exp2(-inf - 0) = 0, never NaN
        double alpha = 0;  // first visible tile: the accumulator and row sum are 0
        if (m_old != kNegInf) alpha = rescale_exact ? std::exp2(m_old - m_sub) : ex2_kernel(rn32(m_old - m_sub));
        double m_for_p = m_sub;
        if (!rescale_exact && mutant == Mutant::p_cast_before_final_max) {
          m_for_p = m_old == kNegInf ? m_sub : m_old;  // planted: stale max, never rescaled
          alpha = 1;
        }
        if (!rescale_exact && mutant == Mutant::rescale_in_fp16) alpha = round_to(DType::fp16, alpha);  // planted
        m = m_new;
        // P = exp2(S * scale_log2 - m): one FMA then ex2 in the kernel.
        for (int64_t j = 0; j < BN; ++j) {
          if (s[j] == kNegInf) {
            p[static_cast<size_t>(j)] = 0;
          } else if (exp_exact) {
            p[static_cast<size_t>(j)] = std::exp2(s[j] * scale_log2 - m_for_p);
          } else {
            p[static_cast<size_t>(j)] = ex2_kernel(fma32(s[j], scale_log2, -m_for_p));
          }
        }
        // Row sum (rescale stage): four quad partials in the MMA C-fragment column order.
        if (rescale_exact) {
          double tile_sum = 0;
          for (int64_t j = 0; j < BN; ++j) tile_sum += p[static_cast<size_t>(j)];
          l_exact = l_exact * alpha + tile_sum;
        } else {
          for (int quad = 0; quad < kQuadThreads; ++quad) {
            double tile_sum = 0;
            for (int64_t n8 = 0; n8 < BN / 8; ++n8)
              for (int c = 0; c < 2; ++c) tile_sum = rn32(tile_sum + p[static_cast<size_t>(n8 * 8 + 2 * quad + c)]);
            l_quad[quad] = fma32(l_quad[quad], alpha, tile_sum);
          }
        }
        for (int64_t d = 0; d < D; ++d) acc[d] = rescale_exact ? acc[d] * alpha : rn32(acc[d] * alpha);
        // p_cast stage.
        for (int64_t j = 0; j < BN; ++j) {
          const double pj = p[static_cast<size_t>(j)];
          p_hi[static_cast<size_t>(j)] = cast_exact ? pj : round_to(dtype_, pj);
          if (precise) p_lo[static_cast<size_t>(j)] = round_to(dtype_, rn32(pj - p_hi[static_cast<size_t>(j)]));
        }
        // pv_accumulate stage: one MMA per 16 keys, ascending inside the tile.
        const int64_t key0 = static_cast<int64_t>(tile) * BN;
        for (int64_t d = 0; d < D; ++d) {
          const double* v = &vt_[static_cast<size_t>(d * padded_keys_ + key0)];
          double a = acc[d];
          if (pv_exact) {
            for (int64_t j = 0; j < BN; ++j) a += p_hi[static_cast<size_t>(j)] * v[j];
            if (precise)  // the lo half is part of the kernel's P even when the products are exact
              for (int64_t j = 0; j < BN; ++j) a += p_lo[static_cast<size_t>(j)] * v[j];
          } else {
            for (int64_t k0 = 0; k0 < BN; k0 += kMmaK) {
              a = tc_group_fma(&p_hi[static_cast<size_t>(k0)], v + k0, kMmaK, a, tensor_core_);
              if (precise) a = tc_group_fma(&p_lo[static_cast<size_t>(k0)], v + k0, kMmaK, a, tensor_core_);
            }
          }
          acc[d] = a;
        }
      }
      acc[D] = rescale_exact ? l_exact : rn32(rn32(l_quad[0] + l_quad[1]) + rn32(l_quad[2] + l_quad[3]));
      acc[D + 1] = m;
    }
  }
}

void HeadEmulator::finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                                 double* lse) const {
  const bool norm_exact = policy.exact(Stage::normalize), pv_exact = policy.exact(Stage::pv_accumulate);
  const bool round_exact = policy.exact(Stage::output_round);
  const bool natural_combine = algorithm_.mutant == Mutant::base2_lse_natural_combine;
  const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_;
  std::vector<double> split_out(static_cast<size_t>(num_splits_ * D));
  std::vector<double> split_lse2(static_cast<size_t>(num_splits_));
  for (int64_t i = r0; i < r1; ++i) {
    double* o = out + (i - r0) * D;
    double lse_natural = kNegInf;
    // Per split: normalize (normalize stage) and the base-2 LSE.
    for (int split = 0; split < num_splits_; ++split) {
      const double* st = states + ((i - r0) * num_splits_ + split) * state_stride();
      const double l = st[D], m = st[D + 1];
      double* os = &split_out[static_cast<size_t>(split * D)];
      if (!(l > 0)) {  // fully masked (in this split): output 0, LSE -inf
        std::fill(os, os + D, 0.0);
        split_lse2[static_cast<size_t>(split)] = kNegInf;
        continue;
      }
      if (norm_exact) {
        for (int64_t d = 0; d < D; ++d) os[d] = st[d] / l;
      } else {
        const double inv_l = rn32(1.0 / l);  // reciprocal then multiply, as the kernel does
        for (int64_t d = 0; d < D; ++d) os[d] = rn32(st[d] * inv_l);
      }
      split_lse2[static_cast<size_t>(split)] = pv_exact ? m + std::log2(l) : rn32(m + rn32(std::log2(l)));
    }
    if (num_splits_ == 1) {
      std::copy(split_out.begin(), split_out.begin() + D, o);
      const double* st = states + (i - r0) * state_stride();
      if (st[D] > 0) lse_natural = st[D + 1] * kLn2 + std::log(st[D]);
    } else {
      // Split-KV combine (pv_accumulate stage). The mutant merges base-2 LSEs with natural exp/log.
      auto expo = [&](double x) {
        if (natural_combine) return pv_exact ? std::exp(x) : rn32(std::exp(x));
        return pv_exact ? std::exp2(x) : ex2_kernel(x);
      };
      auto loga = [&](double x) {
        if (natural_combine) return pv_exact ? std::log(x) : rn32(std::log(x));
        return pv_exact ? std::log2(x) : rn32(std::log2(x));
      };
      double lse_max = kNegInf;
      for (double v : split_lse2) lse_max = std::max(lse_max, v);
      std::fill(o, o + D, 0.0);
      if (lse_max != kNegInf) {
        double sum = 0;
        for (double v : split_lse2) {
          if (v == kNegInf) continue;
          const double diff = pv_exact ? v - lse_max : rn32(v - lse_max);
          sum = pv_exact ? sum + expo(diff) : rn32(sum + expo(diff));
        }
        const double total = pv_exact ? lse_max + loga(sum) : rn32(lse_max + loga(sum));
        for (int split = 0; split < num_splits_; ++split) {
          const double v = split_lse2[static_cast<size_t>(split)];
          if (v == kNegInf) continue;
          const double w = expo(pv_exact ? v - total : rn32(v - total));
          const double* os = &split_out[static_cast<size_t>(split * D)];
          for (int64_t d = 0; d < D; ++d) o[d] = pv_exact ? o[d] + w * os[d] : fma32(w, os[d], o[d]);
        }
        // LSE from the split LSEs in double (not a rounding stage).
        double sum_exact = 0;
        for (double v : split_lse2)
          if (v != kNegInf) sum_exact += std::exp2(v - lse_max);
        lse_natural = (lse_max + std::log2(sum_exact)) * kLn2;
      }
    }
    if (!round_exact)
      for (int64_t d = 0; d < D; ++d) o[d] = round_to(dtype_, o[d]);  // output_round stage (RNE)
    lse[i - r0] = lse_natural;
  }
}

AttentionOutputs emulate_attention(const Problem& problem, const AttentionInputs& inputs, const EmulatorConfig& config) {
  problem.validate();
  if (auto why = legacy::emulator_invalid_reason(problem, config.algorithm)) throw Error("emulator: " + *why);
  AttentionOutputs result;
  result.out_dtype = problem.dtype;
  result.o = Tensor<double>(problem.q_shape());
  result.lse = Tensor<double>(problem.lse_shape(), kNegInf);
  const int64_t D = problem.head_dim;
  const int64_t blocks_per_head = (problem.seqlen_q + config.algorithm.tiles.block_m - 1) / config.algorithm.tiles.block_m;
  const int64_t heads = problem.batch * problem.num_heads_q;
  // Work items: (batch, head, row block); each builds its head view (cheap next to the tile math).
  parallel_for(heads * blocks_per_head, config.threads, [&](int64_t item) {
    const int64_t head_index = item / blocks_per_head, b = head_index / problem.num_heads_q,
                  h = head_index % problem.num_heads_q;
    const int row_block = static_cast<int>(item % blocks_per_head);
    const HeadEmulator head(problem, inputs, b, h, config.algorithm, config.tensor_core);
    const int64_t rows = head.row_end(row_block) - head.row_begin(row_block);
    std::vector<double> scores(static_cast<size_t>(rows * head.padded_keys()));
    std::vector<double> states(static_cast<size_t>(rows * head.num_splits() * head.state_stride()));
    std::vector<double> out(static_cast<size_t>(rows * D)), lse(static_cast<size_t>(rows));
    head.compute_scores(row_block, config.policy.exact(Stage::qk_product), scores.data());
    head.accumulate_rows(row_block, scores.data(), config.policy, states.data());
    head.finalize_rows(row_block, states.data(), config.policy, out.data(), lse.data());
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = head.row_begin(row_block) + r;
      for (int64_t d = 0; d < D; ++d) result.o(b, i, h, d) = out[static_cast<size_t>(r * D + d)];
      result.lse(b, h, i) = lse[static_cast<size_t>(r)];
    }
  });
  return result;
}

}  // namespace attn::legacy
