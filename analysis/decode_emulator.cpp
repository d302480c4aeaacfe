// decode_emulator.cpp: the CPU model of the decode kernels (read the contract in decode_emulator.h
// first). The emulator owns the layout only — which keys a lane holds, which keys a PV chain
// sums, which splits a lane adds — and the products; every other step is a core/pipeline/ stage
// with pipeline::StagedNaturalArithmetic. Not the FA2 emulator (emulator.cpp).
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
constexpr int kWarpLanes = 32;           // one warp per row in the softmax and the combine
constexpr int kPvGroup = 4;              // keys per group of a PV chain (8g + 4 kh .. + 3)
constexpr int kQuadLanes = 4;            // tensor-core kernel: the lanes holding one row of an m16n8 fragment
constexpr int kMmaK = 16;                // keys per PV k-step (m16n8k16)

/// The longest declared key count of the batch (the split plan's reference).
int64_t longest_entry(const Problem& problem) {
  int64_t longest = 0;
  for (int64_t b = 0; b < problem.batch; ++b) longest = std::max(longest, problem.keys_in_batch(b));
  return longest;
}

class DecodeHeadEmulator final : public HeadEmulator {
 public:
  DecodeHeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
                     const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core)
      : HeadEmulator(problem, inputs, batch, head_q, algorithm, tensor_core) {
    keys_per_split_ = decode_keys_per_split(problem, algorithm);
    num_splits_ = static_cast<int>(pipeline::split_count<int64_t>(keys_, keys_per_split_));
    scale_f_ = static_cast<double>(static_cast<float>(scale_));  // the kernels' p.scale
  }

  std::vector<int> tile_schedule(int row_block, int split) const override {
    // Every tile of the split, masked or not (the decode kernels do not skip masked tiles).
    const pipeline::IndexRange<int64_t> keys = pipeline::split_key_range<int64_t>(split, keys_per_split_, keys_);
    std::vector<int> tiles;
    for (int64_t t = keys.begin / block_n_; t * block_n_ < keys.end; ++t) tiles.push_back(static_cast<int>(t));
    order_tiles(tiles, algorithm_.tiles, row_block, split);
    return tiles;
  }

  void compute_scores(int row_block, bool exact, double* scores) const override {
    fill_visible_scores(row_block, scores, [&](const double* q, const double* k) { return score(q, k, exact); });
  }

  void accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy,
                       double* states) const override {
    if (algorithm_.decode.warp_streams > 1) {
      accumulate_streams(row_block, scores, policy, states);
      return;
    }
    const pipeline::StagedNaturalArithmetic a(policy);
    const bool pv_exact = policy.exact(Stage::pv_accumulate);
    const Mutant bug = a.numeric_bug(algorithm_.mutant);
    const auto eager = pipeline::RescaleRule<double>::eager();
    const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_, BN = block_n_;
    const int keys_per_lane = static_cast<int>(BN) / kWarpLanes;
    std::vector<double> p(static_cast<size_t>(BN)), lane_sums(kWarpLanes);
    std::vector<std::vector<int>> schedules;
    for (int split = 0; split < num_splits_; ++split) schedules.push_back(tile_schedule(row_block, split));
    for (int64_t i = r0; i < r1; ++i) {
      const double* row = scores + (i - r0) * padded_keys_;
      for (int split = 0; split < num_splits_; ++split) {
        double* acc = states + ((i - r0) * num_splits_ + split) * state_stride();
        std::fill(acc, acc + D, 0.0);
        pipeline::RowState<double> state;
        for (int tile : schedules[static_cast<size_t>(split)]) {
          const double* s = row + static_cast<int64_t>(tile) * BN;
          std::copy(s, s + BN, p.begin());
          // Online softmax (contract step 3): the warp's lanes are the slices, lane l holding keys
          // l, l + 32; the max is exact in any order, the sum is the warp's butterfly.
          auto whole = [&](int k) -> double& { return p[static_cast<size_t>(k)]; };
          const double tile_max = a.scale_max(pipeline::slice_max(a, whole, static_cast<int>(BN)), 1.0);
          const pipeline::RescaleStep<double> step = pipeline::rescale_step(a, state.m, tile_max, eager, bug);
          state.m = step.m_new;
          for (int lane = 0; lane < kWarpLanes; ++lane) {
            auto slice = [&](int k) -> double& { return p[static_cast<size_t>(lane + k * kWarpLanes)]; };
            lane_sums[static_cast<size_t>(lane)] = pipeline::exp_slice(a, slice, keys_per_lane, 1.0, step.m_for_p);
          }
          const double tile_sum =
              pipeline::butterfly_sum(lane_sums.data(), kWarpLanes, [&](double x, double y) { return a.row_sum_add(x, y); });
          state.l = a.row_sum_update(state.l, step.alpha, tile_sum);
          // PV (pv_accumulate): two chains over alternating groups of 4 keys, then the rescale
          // fused with the addition of this tile's PV (rescale stage).
          const int64_t key0 = static_cast<int64_t>(tile) * BN;
          for (int64_t d = 0; d < D; ++d) {
            const double* v = &vt_[static_cast<size_t>(d * padded_keys_ + key0)];
            double chain[2] = {0.0, 0.0};
            for (int64_t g = 0; g < BN / (2 * kPvGroup); ++g)
              for (int half = 0; half < 2; ++half)
                for (int jj = 0; jj < kPvGroup; ++jj) {
                  const int64_t j = g * 2 * kPvGroup + half * kPvGroup + jj;
                  const double pj = a.round_p(p[static_cast<size_t>(j)]);  // identity: P stays FP32
                  chain[half] = pv_exact ? chain[half] + pj * v[j] : pipeline::fma_fp32(pj, v[j], chain[half]);
                }
            const double pv = pv_exact ? chain[0] + chain[1] : pipeline::round_fp32(chain[0] + chain[1]);
            acc[d] = pipeline::rescale_accumulate_o(a, acc[d], step.alpha, pv);
          }
        }
        acc[D] = state.l;
        acc[D + 1] = state.m;
      }
    }
  }

  void finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                     double* lse) const override {
    const pipeline::StagedNaturalArithmetic a(policy);
    constexpr auto kRead = pipeline::LseCombine::matched;  // a base-2 bug is written, not read
    const bool round_exact = policy.exact(Stage::output_round);
    const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_;
    const int n = num_splits_;
    std::vector<double> split_out(static_cast<size_t>(n * D)), split_lse(static_cast<size_t>(n)), lanes(kWarpLanes);
    for (int64_t i = r0; i < r1; ++i) {
      double* o = out + (i - r0) * D;
      // Per split (contract step 4): normalized partial output and partial LSE.
      for (int split = 0; split < n; ++split) {
        const double* st = states + ((i - r0) * n + split) * state_stride();
        const double l = st[D], m = st[D + 1];
        const double factor = pipeline::row_normalizer(a, l);
        for (int64_t d = 0; d < D; ++d) split_out[static_cast<size_t>(split * D + d)] = pipeline::normalize(a, st[d], factor);
        split_lse[static_cast<size_t>(split)] = pipeline::split_lse(a, m, l, semantics_.combine);
      }
      double row_lse = split_lse[0];
      if (n == 1) {
        std::copy(split_out.begin(), split_out.begin() + D, o);
      } else {
        // Combine in the kernel's order (contract step 5, decode_combine.cuh).
        const double top = pipeline::max_split_lse(a, n, [&](int s) { return split_lse[static_cast<size_t>(s)]; });
        double weight_sum = 0.0;
        std::fill(o, o + D, 0.0);
        if (top != kNegInf) {
          std::fill(lanes.begin(), lanes.end(), 0.0);
          for (int s = 0; s < n; ++s) {
            double& lane = lanes[static_cast<size_t>(s % kWarpLanes)];
            lane = a.combine_add(lane, pipeline::combine_weight(a, split_lse[static_cast<size_t>(s)], top, kRead));
          }
          weight_sum = pipeline::butterfly_sum(lanes.data(), kWarpLanes, [&](double x, double y) { return a.combine_add(x, y); });
          for (int64_t d = 0; d < D; ++d) {
            double acc = 0.0;
            for (int s = 0; s < n; ++s)
              acc = pipeline::combine_accumulate(a, acc, pipeline::combine_weight(a, split_lse[static_cast<size_t>(s)], top, kRead),
                                                 split_out[static_cast<size_t>(s * D + d)]);
            o[d] = pipeline::normalize(a, acc, pipeline::row_normalizer(a, weight_sum));
          }
        }
        row_lse = pipeline::split_lse(a, top, weight_sum, kRead);  // M + log W, or -inf
      }
      if (!round_exact)
        for (int64_t d = 0; d < D; ++d) o[d] = round_to(dtype_, o[d]);  // output_round stage (RNE)
      lse[i - r0] = row_lse;
    }
  }

 private:
  /// The tensor-core kernel (contract steps 3b, 3c): per split, warp_streams key streams of
  /// BLOCK_N-key tiles, each its own online softmax (the quad's lanes as slices), P split hi + lo,
  /// PV per tile on the tensor-core model; the streams merged by the LSE combine. The state of
  /// (row, split) holds the merged, already normalized O with l = 1 and m = its LSE, so that
  /// finalize_rows' per-split step (O / 1, LSE + log 1) gives them back unchanged.
  void accumulate_streams(int row_block, const double* scores, const PrecisionPolicy& policy, double* states) const {
    const pipeline::StagedNaturalArithmetic a(policy);
    const pipeline::StagedArithmetic cast(policy, dtype_);  // p_cast: hi = RN_dtype(p), lo = RN_dtype(RN(p - hi))
    const bool pv_exact = policy.exact(Stage::pv_accumulate);
    const Mutant bug = a.numeric_bug(algorithm_.mutant);
    const auto eager = pipeline::RescaleRule<double>::eager();
    const int streams = algorithm_.decode.warp_streams;
    const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_, BN = block_n_;
    const int slice_keys = static_cast<int>(BN) / kQuadLanes;  // a lane's keys of a row: 2 per n8 tile
    std::vector<double> p(static_cast<size_t>(BN)), hi(p.size()), lo(p.size()), lane_sums(kQuadLanes), o(static_cast<size_t>(D));
    std::vector<double> stream_out(static_cast<size_t>(streams * D)), stream_lse(static_cast<size_t>(streams));
    std::vector<std::vector<int>> schedules;
    for (int split = 0; split < num_splits_; ++split) schedules.push_back(tile_schedule(row_block, split));
    for (int64_t i = r0; i < r1; ++i) {
      const double* row = scores + (i - r0) * padded_keys_;
      for (int split = 0; split < num_splits_; ++split) {
        const std::vector<int>& tiles = schedules[static_cast<size_t>(split)];
        for (int w = 0; w < streams; ++w) {
          double* acc = &stream_out[static_cast<size_t>(w * D)];
          std::fill(acc, acc + D, 0.0);
          pipeline::RowState<double> state;
          const pipeline::IndexRange<int> run = pipeline::stream_tile_range<int>(static_cast<int>(tiles.size()), w, streams);
          for (int ti = run.begin; ti < run.end; ++ti) {
            const int64_t key0 = static_cast<int64_t>(tiles[static_cast<size_t>(ti)]) * BN;
            std::copy(row + key0, row + key0 + BN, p.begin());
            // Online softmax: quad lane t holds keys nt*8 + 2t + c (nt ascending, c = 0, 1).
            auto whole = [&](int k) -> double& { return p[static_cast<size_t>(k)]; };
            const double tile_max = a.scale_max(pipeline::slice_max(a, whole, static_cast<int>(BN)), 1.0);
            const pipeline::RescaleStep<double> step = pipeline::rescale_step(a, state.m, tile_max, eager, bug);
            state.m = step.m_new;
            for (int t = 0; t < kQuadLanes; ++t) {
              auto slice = [&](int k) -> double& { return p[static_cast<size_t>((k / 2) * 8 + 2 * t + k % 2)]; };
              lane_sums[static_cast<size_t>(t)] = pipeline::exp_slice(a, slice, slice_keys, 1.0, step.m_for_p);
            }
            const double tile_sum =
                pipeline::butterfly_sum(lane_sums.data(), kQuadLanes, [&](double x, double y) { return a.row_sum_add(x, y); });
            state.l = a.row_sum_update(state.l, step.alpha, tile_sum);
            for (size_t j = 0; j < p.size(); ++j) {
              hi[j] = pipeline::cast_p(cast, p[j]);
              lo[j] = pipeline::cast_p_lo(cast, p[j], hi[j]);
            }
            // PV of the tile per column: for each 16-key k-step the hi then the lo MMA step, from 0.
            for (int64_t d = 0; d < D; ++d) {
              const double* v = &vt_[static_cast<size_t>(d * padded_keys_ + key0)];
              double pv = 0.0;
              for (int64_t k0 = 0; k0 < BN; k0 += kMmaK) {
                if (pv_exact) {
                  for (int64_t j = k0; j < k0 + kMmaK; ++j) pv += (hi[static_cast<size_t>(j)] + lo[static_cast<size_t>(j)]) * v[j];
                } else {
                  pv = tc_group_fma(&hi[static_cast<size_t>(k0)], v + k0, kMmaK, pv, tensor_core_);
                  pv = tc_group_fma(&lo[static_cast<size_t>(k0)], v + k0, kMmaK, pv, tensor_core_);
                }
              }
              acc[d] = pipeline::rescale_accumulate_o(a, acc[d], step.alpha, pv);
            }
          }
          const double factor = pipeline::row_normalizer(a, state.l);
          for (int64_t d = 0; d < D; ++d) acc[d] = pipeline::normalize(a, acc[d], factor);
          stream_lse[static_cast<size_t>(w)] = pipeline::split_lse(a, state.m, state.l, pipeline::LseCombine::matched);
        }
        const pipeline::MergedRow<double> merged = pipeline::merge_partials(
            a, streams, [&](int w) { return stream_lse[static_cast<size_t>(w)]; },
            [&](int w) { return &stream_out[static_cast<size_t>(w * D)]; }, static_cast<int>(D), o.data());
        double* st = states + ((i - r0) * num_splits_ + split) * state_stride();
        std::copy(o.begin(), o.end(), st);
        st[D] = 1.0;
        st[D + 1] = pipeline::split_lse(a, merged.m, merged.l, pipeline::LseCombine::matched);
      }
    }
  }

  /// One score (contract step 1).
  double score(const double* q, const double* k, bool exact) const {
    const int64_t D = head_dim_;
    if (exact) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];
      return s * scale_;
    }
    if (algorithm_.decode.qk == DecodeQk::mma)
      return pipeline::round_fp32(tc_dot(q, k, static_cast<int>(D), 0.0, tensor_core_) * scale_f_);
    double chain[2] = {0.0, 0.0};
    for (int half = 0; half < 2; ++half)
      for (int64_t d = half * D / 2; d < (half + 1) * D / 2; ++d) chain[half] = pipeline::fma_fp32(q[d], k[d], chain[half]);
    return pipeline::round_fp32(pipeline::round_fp32(chain[0] + chain[1]) * scale_f_);
  }

  int64_t keys_per_split_ = kDecodeTileKeys;
  double scale_f_ = 1;
};

}  // namespace

std::optional<std::string> decode_emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm) {
  if (problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    return "the decode emulator models FP16/BF16 caches; dtype is " + std::string(dtype_name(problem.dtype));
  const bool streams = algorithm.decode.warp_streams > 1;  // the tensor-core kernel
  if (algorithm.decode.warp_streams < 1) return "warp_streams = " + std::to_string(algorithm.decode.warp_streams) + " must be >= 1";
  if (!streams && algorithm.tiles.block_n != kDecodeTileKeys)
    return "the decode kernels use " + std::to_string(kDecodeTileKeys) + "-key tiles (BLOCK_N = " +
           std::to_string(algorithm.tiles.block_n) + ")";
  if (streams && algorithm.tiles.block_n != kDecodeStreamTileKeys && algorithm.tiles.block_n != kDecodeStreamTileKeys / 2)
    return "the tensor-core decode kernel's warps use " + std::to_string(kDecodeStreamTileKeys) + "- or " +
           std::to_string(kDecodeStreamTileKeys / 2) + "-key tiles (BLOCK_N = " + std::to_string(algorithm.tiles.block_n) + ")";
  if (streams && (algorithm.decode.qk != DecodeQk::mma || algorithm.p_cast != PCastMode::split_hi_lo))
    return std::string("the tensor-core decode kernel computes scores with mma and splits P hi + lo");
  if (algorithm.tiles.block_m < 1) return "BLOCK_M (query rows per CTA) = " + std::to_string(algorithm.tiles.block_m) + " must be positive";
  if (algorithm.rescale_threshold_log2 != 0) return std::string("the decode kernels rescale eagerly (no lazy threshold)");
  if (!streams && algorithm.p_cast != PCastMode::input_dtype)
    return std::string("the CUDA-core and bulk decode kernels keep P in FP32 (no P cast)");
  if (algorithm.decode.heads_per_cta < 1) return "heads_per_cta = " + std::to_string(algorithm.decode.heads_per_cta) + " must be >= 1";
  if (problem.head_dim % 16 != 0) return "head_dim " + std::to_string(problem.head_dim) + " must be a multiple of 16";
  switch (algorithm.decode.plan) {
    case SplitPlanKind::count:
      if (algorithm.tiles.num_splits < 1 || algorithm.tiles.num_splits > pipeline::kMaxSplits)
        return "num_splits = " + std::to_string(algorithm.tiles.num_splits) + " must be in 1.." + std::to_string(pipeline::kMaxSplits);
      break;
    case SplitPlanKind::fixed_keys:
      if (algorithm.decode.split_keys <= 0 || algorithm.decode.split_keys % kDecodeTileKeys != 0)
        return "split size " + std::to_string(algorithm.decode.split_keys) + " must be a positive multiple of 64 keys";
      break;
    case SplitPlanKind::heuristic:
      if (algorithm.decode.target_ctas <= 0)
        return std::string("the heuristic split plan needs the GPU's CTA count (target_ctas; none: no GPU was seen)");
      break;
  }
  return std::nullopt;
}

int64_t decode_keys_per_split(const Problem& problem, const AlgorithmConfig& algorithm) {
  const DecodeConfig& c = algorithm.decode;
  if (c.plan == SplitPlanKind::fixed_keys) return c.split_keys;
  const int64_t longest = longest_entry(problem);
  const int64_t tiles = pipeline::tiles_for_keys<int64_t>(longest, kDecodeTileKeys);
  int64_t splits = algorithm.tiles.num_splits;
  if (c.plan == SplitPlanKind::heuristic) {
    const int64_t rows = problem.seqlen_q * problem.group_size();
    const int64_t units = problem.batch * ((problem.num_heads_kv + c.heads_per_cta - 1) / c.heads_per_cta) *
                          ((rows + algorithm.tiles.block_m - 1) / algorithm.tiles.block_m);
    splits = pipeline::heuristic_split_count<int64_t>(longest, units, c.target_ctas, kDecodeTileKeys);
  }
  return pipeline::keys_per_split_for_count<int64_t>(tiles, splits, kDecodeTileKeys);
}

std::unique_ptr<HeadEmulator> make_decode_head_emulator(const Problem& problem, const AttentionInputs& inputs,
                                                        int64_t batch, int64_t head_q, const AlgorithmConfig& algorithm,
                                                        const TensorCoreModel& tensor_core) {
  return std::make_unique<DecodeHeadEmulator>(problem, inputs, batch, head_q, algorithm, tensor_core);
}

AlgorithmConfig decode_algorithm(SplitPlanKind plan, int splits_or_keys, DecodeQk qk) {
  AlgorithmConfig a;
  a.numerics = KernelNumerics::flash_decoding;
  a.tiles.block_m = 64;
  a.tiles.block_n = kDecodeTileKeys;
  a.decode.qk = qk;
  a.decode.plan = plan;
  if (plan == SplitPlanKind::count) a.tiles.num_splits = splits_or_keys;
  if (plan == SplitPlanKind::fixed_keys) a.decode.split_keys = splits_or_keys;
  if (plan == SplitPlanKind::heuristic) a.decode.target_ctas = splits_or_keys;
  return a;
}

AlgorithmConfig decode_tensor_core_algorithm(SplitPlanKind plan, int splits_or_keys, int warp_streams) {
  if (warp_streams != 4 && warp_streams != 12) throw Error("decode: the tensor-core kernel runs 4 or 12 warp streams, not " + std::to_string(warp_streams));
  AlgorithmConfig a = decode_algorithm(plan, splits_or_keys, DecodeQk::mma);
  // 4 streams: m16 row blocks, 32-key tiles; 12 (the registered form): 8-row blocks, 16-key tiles.
  a.tiles.block_m = warp_streams == 4 ? 16 : 8;
  a.tiles.block_n = warp_streams == 4 ? kDecodeStreamTileKeys : kDecodeStreamTileKeys / 2;
  a.p_cast = PCastMode::split_hi_lo;
  a.decode.warp_streams = warp_streams;
  return a;
}

}  // namespace attn
