// attribution.cpp: the 2^7 policy subsets of attribution.h with the emulator's phases cached:
// per head, scores once per qk policy; per (accumulate policy, row block) one accumulate pass
// and the 4 finalize policies on its states. Errors are reduced in a fixed order so the result
// does not depend on the thread count.
#include "analysis/attribution.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "analysis/emulator.h"
#include "core/errors.h"

namespace attn {
namespace {

constexpr int kSubsets = 1 << kNumStages;
constexpr int kQkBit = 1 << static_cast<int>(Stage::qk_product);
constexpr Stage kAccumulateStages[] = {Stage::exp, Stage::rescale, Stage::p_cast, Stage::pv_accumulate};
constexpr Stage kFinalizeStages[] = {Stage::normalize, Stage::output_round};

PrecisionPolicy policy_of_subset(int subset) {
  PrecisionPolicy policy;
  for (int s = 0; s < kNumStages; ++s)
    policy.stage[static_cast<size_t>(s)] = (subset >> s & 1) ? StagePrecision::kernel : StagePrecision::exact;
  return policy;
}

struct ErrorSums {
  double sum_squares = 0;
  double max_abs = 0;
};

}  // namespace

std::vector<double> shapley_values(const std::vector<double>& subset_values, int players) {
  if (players < 1 || players > 20 || subset_values.size() != (size_t{1} << players))
    throw Error("shapley_values: need 2^players subset values, got " + std::to_string(subset_values.size()) +
                " for " + std::to_string(players) + " players");
  // weight(t) = t! (n - t - 1)! / n! for a coalition of size t not containing the player.
  std::vector<double> weight(static_cast<size_t>(players));
  for (int t = 0; t < players; ++t) {
    double w = 1.0 / players;
    for (int k = 1; k <= t; ++k) w *= static_cast<double>(k) / static_cast<double>(players - k);
    weight[static_cast<size_t>(t)] = w;  // = 1 / (n * C(n-1, t))
  }
  std::vector<double> phi(static_cast<size_t>(players), 0.0);
  for (int i = 0; i < players; ++i)
    for (size_t subset = 0; subset < subset_values.size(); ++subset) {
      if (subset >> i & 1) continue;
      const int size = __builtin_popcountll(subset);
      phi[static_cast<size_t>(i)] +=
          weight[static_cast<size_t>(size)] * (subset_values[subset | (size_t{1} << i)] - subset_values[subset]);
    }
  return phi;
}

AttributionResult attribute_error(const Problem& problem, const AttentionInputs& inputs,
                                  const AttributionOptions& options, const Tensor<double>* truth) {
  const auto start = std::chrono::steady_clock::now();
  problem.validate();
  if (auto why = emulator_invalid_reason(problem, options.algorithm)) throw Error("attribution: " + *why);
  if (truth && truth->shape() != problem.q_shape())
    throw Error("attribution: truth has shape " + shape_string(truth->shape()) + ", expected " +
                shape_string(problem.q_shape()));
  AlgorithmConfig correct = options.algorithm;
  correct.mutant = Mutant::none;
  const int64_t D = problem.head_dim;

  std::array<ErrorSums, kSubsets> totals{};
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t h = 0; h < problem.num_heads_q; ++h) {
      const std::unique_ptr<HeadEmulator> head_model =
          make_head_emulator(problem, inputs, b, h, options.algorithm, options.tensor_core);
      const HeadEmulator& head = *head_model;
      const int blocks = head.num_row_blocks();
      const int64_t S = head.seqlen_q(), keys = head.padded_keys();
      // Truth rows of this head: given, or the all-exact correct emulator.
      std::vector<double> head_truth(static_cast<size_t>(S * D));
      if (truth) {
        for (int64_t i = 0; i < S; ++i)
          for (int64_t d = 0; d < D; ++d) head_truth[static_cast<size_t>(i * D + d)] = (*truth)(b, i, h, d);
      } else {
        const std::unique_ptr<HeadEmulator> reference_model =
            make_head_emulator(problem, inputs, b, h, correct, options.tensor_core);
        const HeadEmulator& reference = *reference_model;
        const PrecisionPolicy exact = PrecisionPolicy::all_exact();
        parallel_for(blocks, options.threads, [&](int64_t rb) {
          const int block = static_cast<int>(rb);
          const int64_t rows = reference.row_end(block) - reference.row_begin(block);
          std::vector<double> scores(static_cast<size_t>(rows * reference.padded_keys()));
          std::vector<double> states(static_cast<size_t>(rows * reference.num_splits() * reference.state_stride()));
          std::vector<double> lse(static_cast<size_t>(rows));
          reference.compute_scores(block, true, scores.data());
          reference.accumulate_rows(block, scores.data(), exact, states.data());
          reference.finalize_rows(block, states.data(), exact,
                                  &head_truth[static_cast<size_t>(reference.row_begin(block) * D)], lse.data());
        });
      }
      for (int qk_kernel = 0; qk_kernel < 2; ++qk_kernel) {
        // Phase 1, shared by 64 subsets: the scores of the whole head under this qk policy.
        std::vector<double> scores(static_cast<size_t>(S * keys));
        parallel_for(blocks, options.threads, [&](int64_t rb) {
          const int block = static_cast<int>(rb);
          head.compute_scores(block, qk_kernel == 0, &scores[static_cast<size_t>(head.row_begin(block) * keys)]);
        });
        // Phases 2 and 3: one item per (accumulate policy, row block); 4 finalize policies each.
        constexpr int kAccumulatePolicies = 1 << 4, kFinalizePolicies = 1 << 2;
        std::vector<ErrorSums> item_sums(static_cast<size_t>(kAccumulatePolicies * blocks * kFinalizePolicies));
        parallel_for(static_cast<int64_t>(kAccumulatePolicies) * blocks, options.threads, [&](int64_t item) {
          const int acc_bits = static_cast<int>(item / blocks), block = static_cast<int>(item % blocks);
          int subset_base = qk_kernel ? kQkBit : 0;
          for (int t = 0; t < 4; ++t)
            if (acc_bits >> t & 1) subset_base |= 1 << static_cast<int>(kAccumulateStages[t]);
          const int64_t r0 = head.row_begin(block), rows = head.row_end(block) - r0;
          std::vector<double> states(static_cast<size_t>(rows * head.num_splits() * head.state_stride()));
          std::vector<double> out(static_cast<size_t>(rows * D)), lse(static_cast<size_t>(rows));
          head.accumulate_rows(block, &scores[static_cast<size_t>(r0 * keys)], policy_of_subset(subset_base),
                               states.data());
          for (int fin = 0; fin < kFinalizePolicies; ++fin) {
            int subset = subset_base;
            for (int t = 0; t < 2; ++t)
              if (fin >> t & 1) subset |= 1 << static_cast<int>(kFinalizeStages[t]);
            head.finalize_rows(block, states.data(), policy_of_subset(subset), out.data(), lse.data());
            ErrorSums sums;
            for (int64_t e = 0; e < rows * D; ++e) {
              const double diff = std::fabs(out[static_cast<size_t>(e)] - head_truth[static_cast<size_t>(r0 * D + e)]);
              sums.sum_squares += diff * diff;
              sums.max_abs = std::max(sums.max_abs, std::isnan(diff) ? HUGE_VAL : diff);
            }
            item_sums[static_cast<size_t>(item * kFinalizePolicies + fin)] = sums;
          }
        });
        // Fixed-order reduction: subset by subset, row block ascending.
        for (int acc_bits = 0; acc_bits < kAccumulatePolicies; ++acc_bits)
          for (int fin = 0; fin < kFinalizePolicies; ++fin) {
            int subset = qk_kernel ? kQkBit : 0;
            for (int t = 0; t < 4; ++t)
              if (acc_bits >> t & 1) subset |= 1 << static_cast<int>(kAccumulateStages[t]);
            for (int t = 0; t < 2; ++t)
              if (fin >> t & 1) subset |= 1 << static_cast<int>(kFinalizeStages[t]);
            for (int block = 0; block < blocks; ++block) {
              const ErrorSums& s =
                  item_sums[static_cast<size_t>((static_cast<int64_t>(acc_bits) * blocks + block) * kFinalizePolicies + fin)];
              totals[static_cast<size_t>(subset)].sum_squares += s.sum_squares;
              totals[static_cast<size_t>(subset)].max_abs = std::max(totals[static_cast<size_t>(subset)].max_abs, s.max_abs);
            }
          }
      }
    }

  AttributionResult result;
  result.elements = problem.batch * problem.seqlen_q * problem.num_heads_q * D;
  std::vector<double> mse(kSubsets), max_abs(kSubsets);
  for (int subset = 0; subset < kSubsets; ++subset) {
    mse[static_cast<size_t>(subset)] = totals[static_cast<size_t>(subset)].sum_squares / static_cast<double>(result.elements);
    max_abs[static_cast<size_t>(subset)] = totals[static_cast<size_t>(subset)].max_abs;
    result.subset_mse[static_cast<size_t>(subset)] = mse[static_cast<size_t>(subset)];
    result.subset_max_abs[static_cast<size_t>(subset)] = max_abs[static_cast<size_t>(subset)];
  }
  const int all = kSubsets - 1;
  result.total_mse = mse[all];
  result.total_max_abs = max_abs[all];
  result.semantic_mse = mse[0];
  result.semantic_max_abs = max_abs[0];
  const std::vector<double> phi_mse = shapley_values(mse, kNumStages), phi_max = shapley_values(max_abs, kNumStages);
  for (int s = 0; s < kNumStages; ++s) {
    StageAttribution& st = result.stages[static_cast<size_t>(s)];
    st.stage = static_cast<Stage>(s);
    st.shapley_mse = phi_mse[static_cast<size_t>(s)];
    st.shapley_max_abs = phi_max[static_cast<size_t>(s)];
    st.ablation_mse = mse[all] - mse[static_cast<size_t>(all & ~(1 << s))];
    st.ablation_max_abs = max_abs[all] - max_abs[static_cast<size_t>(all & ~(1 << s))];
    const std::string category = stage_category(st.stage);
    auto it = std::find_if(result.categories.begin(), result.categories.end(),
                           [&](const CategoryAttribution& c) { return c.category == category; });
    if (it == result.categories.end()) {
      result.categories.push_back({category, 0, 0});
      it = result.categories.end() - 1;
    }
    it->shapley_mse += st.shapley_mse;
    it->shapley_max_abs += st.shapley_max_abs;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string dominant_category(const AttributionResult& result) {
  std::string best = "semantic";
  double best_value = result.semantic_mse;
  for (const CategoryAttribution& c : result.categories)
    if (c.shapley_mse > best_value) {
      best_value = c.shapley_mse;
      best = c.category;
    }
  return best;
}

nlohmann::json attribution_to_json(const AttributionResult& r) {
  const double total = r.total_mse > 0 ? r.total_mse : 1.0;
  nlohmann::json categories = nlohmann::json::object();
  for (const CategoryAttribution& c : r.categories)
    categories[c.category] = {{"rmse2_share", c.shapley_mse / total}, {"shapley_mse", c.shapley_mse}, {"max_abs", c.shapley_max_abs}};
  categories["semantic"] = {{"rmse2_share", r.semantic_mse / total}, {"shapley_mse", r.semantic_mse}, {"max_abs", r.semantic_max_abs}};
  nlohmann::json stages = nlohmann::json::object();
  for (const StageAttribution& st : r.stages)
    stages[stage_name(st.stage)] = {{"category", stage_category(st.stage)}, {"rmse2_share", st.shapley_mse / total},
                                    {"shapley_mse", st.shapley_mse}, {"shapley_max_abs", st.shapley_max_abs},
                                    {"ablation_mse", st.ablation_mse}, {"ablation_max_abs", st.ablation_max_abs}};
  return {{"total", {{"mse", r.total_mse}, {"rmse", std::sqrt(r.total_mse)}, {"max_abs", r.total_max_abs}}},
          {"semantic", {{"mse", r.semantic_mse}, {"max_abs", r.semantic_max_abs}}},
          {"categories", categories},
          {"stages", stages},
          {"dominant", dominant_category(r)},
          {"emulated_mse", r.total_mse},
          {"seconds", r.seconds}};
}

}  // namespace attn
