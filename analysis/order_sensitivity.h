// order_sensitivity.h: how much the output moves when only the accumulation order changes
// (DESIGN.md, "Order sensitivity"): the same precision policy with KV tiles in forward, reverse
// and random order and with 1..8 split-KV partitions; plus a batch-invariance check (a row's
// output must not change when other rows or the batch size change, for a fixed split count).
// What it is not: attribution across precisions (attribution.h) or a GPU measurement.
#pragma once

#include <string>
#include <vector>

#include "analysis/tensor_core_model.h"
#include "core/kernel.h"
#include "core/kernel_config.h"

namespace attn {

struct OrderVariantResult {
  std::string name;            ///< "forward", "reverse", "random1", "split4", ...
  TileConfig tiles;
  double max_abs_vs_truth = 0;
  double rmse_vs_truth = 0;
  double max_abs_vs_base = 0;  ///< against the first variant (the configured order)
  double rmse_vs_base = 0;
  double fraction_changed = 0; ///< output elements whose bits differ from the base variant
};

struct OrderSensitivityResult {
  std::vector<OrderVariantResult> variants;
  double spread_max_abs = 0;   ///< max over variant pairs of max |O_a - O_b|
  double spread_rmse = 0;      ///< max over variants of rmse vs base
  bool batch_invariant = true;
  std::string batch_invariance_detail;  ///< what was compared, and the first difference if any
};

struct OrderSensitivityOptions {
  AlgorithmConfig base;        ///< the configured variant (its order/splits come first)
  TensorCoreModel tensor_core = TensorCoreModel::h100();
  int threads = 0;
  int max_splits = 8;          ///< split variants 2..max_splits (forward order)
  int random_orders = 2;       ///< random-order variants, seeds 1..n
  bool check_batch_invariance = true;
};

/// Runs the variants on `problem` and compares them with each other and with `truth`
/// ([B, S_q, H_q, D]; null: the all-exact emulator). Every variant uses the kernel policy.
OrderSensitivityResult order_sensitivity(const Problem& problem, const AttentionInputs& inputs,
                                         const OrderSensitivityOptions& options,
                                         const Tensor<double>* truth = nullptr);

/// Batch invariance alone: the outputs of batch entry 0 (all rows) are bit-identical when it
/// runs alone, when other entries' inputs change, and when an entry is appended. Returns "" when
/// invariant, else a description of the first difference.
std::string check_batch_invariance(const Problem& problem, const AttentionInputs& inputs,
                                   const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core, int threads);

}  // namespace attn
