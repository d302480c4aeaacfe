// attribution.h: which stage of the FlashAttention pipeline the error comes from (DESIGN.md,
// "Attribution"). The emulator runs every subset of the 7 stages (core/kernel_config.h Stage)
// as the kernel does it, the others exact: v(T) = error of the output with the stages in T
// "kernel". From the 2^7 values: exact Shapley values per stage (they sum to v(all) - v(none)),
// ablation deltas (v(all) - v(all without i): the error removed by making stage i exact), and the
// sums per category (stage_category). v(none), the error with every stage exact, is not rounding:
// it is reported as "semantic" (a planted or real bug in meaning: mask, GQA head, cache length).
// Errors are measured in RMSE^2 (mean squared error, additive) and in max_abs.
// What it is not: semantic diagnosis of a black-box output (analysis/diagnosis*), nor metrics.
//
// Why all 7 stages and not fewer: the phases are cached (scores once per qk policy, the 16
// accumulate policies share them, the 4 finalize policies share each accumulate), so the
// 128 subsets cost 2 score passes + 32 accumulate passes + 128 cheap finalize passes.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/tensor_core_model.h"
#include "core/kernel.h"
#include "core/kernel_config.h"

namespace attn {

struct AttributionOptions {
  AlgorithmConfig algorithm;
  TensorCoreModel tensor_core = TensorCoreModel::h100();
  int threads = 0;  ///< 0: hardware concurrency; results do not depend on it
};

/// One stage's part of the error.
struct StageAttribution {
  Stage stage = Stage::qk_product;
  double shapley_mse = 0;       ///< Shapley value of the stage for v = mean squared error
  double shapley_max_abs = 0;   ///< Shapley value for v = max_abs
  double ablation_mse = 0;      ///< v(all) - v(all but this stage): MSE removed by making it exact
  double ablation_max_abs = 0;
};

/// One category's part (sum of its stages' Shapley values).
struct CategoryAttribution {
  std::string category;
  double shapley_mse = 0;
  double shapley_max_abs = 0;
};

struct AttributionResult {
  std::array<StageAttribution, kNumStages> stages;
  std::vector<CategoryAttribution> categories;  ///< in first-appearance order of the stages
  double total_mse = 0;       ///< v(all stages kernel): the emulated kernel's error
  double total_max_abs = 0;
  double semantic_mse = 0;    ///< v(every stage exact): error that no rounding explains
  double semantic_max_abs = 0;
  /// v(T) for every subset: index bit s set = stage s as the kernel does it.
  std::array<double, 1 << kNumStages> subset_mse{};
  std::array<double, 1 << kNumStages> subset_max_abs{};
  int64_t elements = 0;       ///< output elements compared
  double seconds = 0;         ///< wall time of the attribution
};

/// Attribution of the emulated kernel `options.algorithm` on `problem` against `truth`
/// ([B, S_q, H_q, D]); when truth is null, the all-exact emulator of the same tiling without
/// the mutant (exact attention in double) is used. Throws attn::Error for an unsupported problem.
AttributionResult attribute_error(const Problem& problem, const AttentionInputs& inputs,
                                  const AttributionOptions& options, const Tensor<double>* truth = nullptr);

/// Exact Shapley values of a set function given on all 2^n subsets (bit i = player i present).
std::vector<double> shapley_values(const std::vector<double>& subset_values, int players);

/// Category whose Shapley share (of MSE) is largest, "semantic" if v(none) dominates.
std::string dominant_category(const AttributionResult& result);

/// The one JSON form of an attribution (sweep rows, the incremental experiment, `attnscope
/// attribute --json`):
///   {"total": {mse, rmse, max_abs}, "semantic": {mse, max_abs},
///    "categories": {name: {rmse2_share, shapley_mse, max_abs}}   (also "semantic"; shares sum to 1)
///    "stages": {name: {category, rmse2_share, shapley_mse, shapley_max_abs, ablation_mse, ablation_max_abs}},
///    "dominant": category, "emulated_mse": total mse, "seconds": wall time}
nlohmann::json attribution_to_json(const AttributionResult& result);

}  // namespace attn
