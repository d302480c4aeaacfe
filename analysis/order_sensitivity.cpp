// order_sensitivity.cpp: variants of KV-tile order and split count under the kernel policy,
// and the batch-invariance check of order_sensitivity.h.
#include "analysis/order_sensitivity.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "analysis/emulator.h"
#include "core/errors.h"

namespace attn {
namespace {

struct Difference {
  double max_abs = 0;
  double rmse = 0;
  double fraction_changed = 0;
};

Difference compare(const Tensor<double>& a, const Tensor<double>& b) {
  Difference d;
  double sum_squares = 0;
  int64_t changed = 0;
  for (int64_t e = 0; e < a.numel(); ++e) {
    const double x = a.flat(e), y = b.flat(e);
    if (std::memcmp(&x, &y, sizeof x) != 0) ++changed;
    const double diff = std::fabs(x - y);
    d.max_abs = std::max(d.max_abs, std::isnan(diff) ? HUGE_VAL : diff);
    sum_squares += diff * diff;
  }
  if (a.numel() > 0) {
    d.rmse = std::sqrt(sum_squares / static_cast<double>(a.numel()));
    d.fraction_changed = static_cast<double>(changed) / static_cast<double>(a.numel());
  }
  return d;
}

AttentionInputs slice_batch(const AttentionInputs& in, const Problem& problem, int64_t first, int64_t count) {
  AttentionInputs out;
  Problem sub = problem;
  sub.batch = count;
  out.q = Tensor<double>(sub.q_shape());
  out.k = Tensor<double>(sub.kv_shape());
  out.v = Tensor<double>(sub.kv_shape());
  const int64_t q_per = problem.seqlen_q * problem.num_heads_q * problem.head_dim;
  const int64_t kv_per = problem.seqlen_k * problem.num_heads_kv * problem.head_dim;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t src = (first + b) % problem.batch;
    std::copy_n(in.q.data() + src * q_per, q_per, out.q.data() + b * q_per);
    std::copy_n(in.k.data() + src * kv_per, kv_per, out.k.data() + b * kv_per);
    std::copy_n(in.v.data() + src * kv_per, kv_per, out.v.data() + b * kv_per);
  }
  return out;
}

std::string first_difference(const Tensor<double>& full, const Tensor<double>& part, const Problem& problem,
                             const char* what) {
  // Compares batch entry 0 of both.
  const int64_t per = problem.seqlen_q * problem.num_heads_q * problem.head_dim;
  for (int64_t e = 0; e < per; ++e) {
    const double x = full.flat(e), y = part.flat(e);
    if (std::memcmp(&x, &y, sizeof x) != 0)
      return std::string(what) + ": element " + std::to_string(e) + " of batch entry 0 changed (" +
             std::to_string(x) + " vs " + std::to_string(y) + ")";
  }
  return "";
}

/// The base configuration with a variant's tiles. A decode configuration whose split plan is
/// not the base's own (fixed size, heuristic) counts the variant's splits (the count plan).
AlgorithmConfig variant_algorithm(const AlgorithmConfig& base, const TileConfig& tiles) {
  AlgorithmConfig algorithm = base;
  const bool same_splits = tiles.num_splits == base.tiles.num_splits;
  algorithm.tiles = tiles;
  if (algorithm.numerics == KernelNumerics::flash_decoding && !same_splits) algorithm.decode.plan = SplitPlanKind::count;
  return algorithm;
}

}  // namespace

std::string check_batch_invariance(const Problem& problem, const AttentionInputs& inputs,
                                   const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core, int threads) {
  EmulatorConfig config;
  config.algorithm = algorithm;
  config.tensor_core = tensor_core;
  config.threads = threads;
  const AttentionOutputs full = emulate_attention(problem, inputs, config);
  // (1) entry 0 alone; (2) one more entry appended (a copy of entry 0 with Q negated: other rows
  // of the batch change, entry 0 must not).
  Problem alone = problem;
  alone.batch = 1;
  if (!problem.seqlens_k.empty()) alone.seqlens_k = {problem.seqlens_k[0]};
  const AttentionOutputs single = emulate_attention(alone, slice_batch(inputs, problem, 0, 1), config);
  if (auto d = first_difference(full.o, single.o, problem, "batch entry 0 run alone"); !d.empty()) return d;
  Problem grown = problem;
  grown.batch = problem.batch + 1;
  if (!problem.seqlens_k.empty()) grown.seqlens_k.push_back(problem.seqlens_k[0]);
  AttentionInputs grown_inputs = slice_batch(inputs, problem, 0, problem.batch + 1);
  const int64_t q_per = problem.seqlen_q * problem.num_heads_q * problem.head_dim;
  for (int64_t e = 0; e < q_per; ++e) grown_inputs.q.flat(problem.batch * q_per + e) *= -1;  // exact in any format
  const AttentionOutputs grown_out = emulate_attention(grown, grown_inputs, config);
  if (auto d = first_difference(full.o, grown_out.o, problem, "batch grown by one entry"); !d.empty()) return d;
  return "";
}

OrderSensitivityResult order_sensitivity(const Problem& problem, const AttentionInputs& inputs,
                                         const OrderSensitivityOptions& options, const Tensor<double>* truth) {
  problem.validate();
  if (auto why = emulator_invalid_reason(problem, options.base)) throw Error("order sensitivity: " + *why);
  std::vector<std::pair<std::string, TileConfig>> variants;
  const TileConfig base = options.base.tiles;
  variants.push_back({"base", base});
  auto add = [&](const std::string& name, TileConfig t) {
    if (t.num_splits == base.num_splits && t.order == base.order && t.order_seed == base.order_seed) return;
    variants.push_back({name, t});
  };
  TileConfig t = base;
  t.num_splits = 1;
  t.order = KvBlockOrder::forward;
  add("forward", t);
  t.order = KvBlockOrder::reverse;
  add("reverse", t);
  for (int seed = 1; seed <= options.random_orders; ++seed) {
    t.order = KvBlockOrder::random;
    t.order_seed = static_cast<uint64_t>(seed);
    add("random" + std::to_string(seed), t);
  }
  t = base;
  t.order = KvBlockOrder::forward;
  t.order_seed = 0;
  for (int splits = 2; splits <= options.max_splits; ++splits) {
    t.num_splits = splits;
    add("split" + std::to_string(splits), t);
  }

  Tensor<double> exact_truth;
  if (!truth) {
    EmulatorConfig exact;
    exact.algorithm = options.base;
    exact.algorithm.mutant = Mutant::none;
    exact.policy = PrecisionPolicy::all_exact();
    exact.threads = options.threads;
    exact_truth = emulate_attention(problem, inputs, exact).o;
    truth = &exact_truth;
  }
  OrderSensitivityResult result;
  // Scores do not depend on order or splits (same tiles visited, same MMA chains): computed once
  // per (batch, head, row block) and shared by every variant's accumulate and finalize.
  std::vector<Tensor<double>> outputs(variants.size(), Tensor<double>(problem.q_shape()));
  const PrecisionPolicy kernel_policy = PrecisionPolicy::all_kernel();
  const int64_t D = problem.head_dim;
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t h = 0; h < problem.num_heads_q; ++h) {
      std::vector<std::unique_ptr<HeadEmulator>> heads;
      for (const auto& variant : variants)
        heads.push_back(make_head_emulator(problem, inputs, b, h, variant_algorithm(options.base, variant.second),
                                           options.tensor_core));
      parallel_for(heads.front()->num_row_blocks(), options.threads, [&](int64_t rb) {
        const int block = static_cast<int>(rb);
        const HeadEmulator& first = *heads.front();
        const int64_t r0 = first.row_begin(block), rows = first.row_end(block) - r0;
        std::vector<double> scores(static_cast<size_t>(rows * first.padded_keys()));
        first.compute_scores(block, false, scores.data());
        std::vector<double> out(static_cast<size_t>(rows * D)), lse(static_cast<size_t>(rows));
        for (size_t v = 0; v < heads.size(); ++v) {
          std::vector<double> states(static_cast<size_t>(rows * heads[v]->num_splits() * heads[v]->state_stride()));
          heads[v]->accumulate_rows(block, scores.data(), kernel_policy, states.data());
          heads[v]->finalize_rows(block, states.data(), kernel_policy, out.data(), lse.data());
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t d = 0; d < D; ++d) outputs[v](b, r0 + r, h, d) = out[static_cast<size_t>(r * D + d)];
        }
      });
    }
  for (size_t v = 0; v < variants.size(); ++v) {
    OrderVariantResult result_v;
    result_v.name = variants[v].first;
    result_v.tiles = variants[v].second;
    const Difference vs_truth = compare(outputs[v], *truth), vs_base = compare(outputs[v], outputs.front());
    result_v.max_abs_vs_truth = vs_truth.max_abs;
    result_v.rmse_vs_truth = vs_truth.rmse;
    result_v.max_abs_vs_base = vs_base.max_abs;
    result_v.rmse_vs_base = vs_base.rmse;
    result_v.fraction_changed = vs_base.fraction_changed;
    result.spread_rmse = std::max(result.spread_rmse, vs_base.rmse);
    result.variants.push_back(result_v);
  }
  for (size_t a = 0; a < outputs.size(); ++a)
    for (size_t b = a + 1; b < outputs.size(); ++b)
      result.spread_max_abs = std::max(result.spread_max_abs, compare(outputs[a], outputs[b]).max_abs);
  if (options.check_batch_invariance) {
    const std::string diff = check_batch_invariance(problem, inputs, options.base, options.tensor_core, options.threads);
    result.batch_invariant = diff.empty();
    result.batch_invariance_detail =
        diff.empty() ? "batch entry 0 bit-identical alone and with an extra entry (splits = " +
                           std::to_string(base.num_splits) + ")"
                     : diff;
  }
  return result;
}

}  // namespace attn
