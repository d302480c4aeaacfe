// attribute_command.cpp: `attnscope attribute` — where one configuration's error comes from:
// Shapley attribution over the emulator's stages (the FA2 forward, or with --decode the KV-cache
// decode kernels) (per stage and per category, as shares of RMSE^2
// and of max_abs, with ablation deltas), the order-sensitivity summary and batch invariance.
// Not `attnscope run` (metrics of registered kernels) nor `diagnose` (semantic diagnosis).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/attribution.h"
#include "analysis/decode_emulator.h"
#include "analysis/emulator.h"
#include "analysis/order_sensitivity.h"
#include "cli/commands.h"
#include "cli/problem_flags.h"
#include "core/errors.h"
#include "core/generators.h"

namespace attn::cli {
namespace {

struct AttributeFlags {
  ProblemFlags problem;  // the problem and input flags shared with `attnscope run`
  std::string order = "forward", mutant = "none";
  uint64_t order_seed = 1;
  int block_m = 64, block_n = 64, splits = 1, threads = 0, extra_bits = 2, max_splits = 8;
  std::string tc_rounding = "toward-zero";
  std::string decode;                // "": the FA2 forward; else the decode kernels' split plan
  std::string decode_contract = "tc12";
  bool precise = false, json = false, time = false, no_order = false;
};

/// --decode-contract's values, named as the emulated variants are (kernels/variants.toml), and the
/// emulated algorithm each builds from a split plan: tc12 (the production tensor-core kernel, 12
/// warp streams), tc (its 4-stream form), mma (tensor-core scores, 64-key tiles: the bulk
/// kernel), fma (the CUDA-core kernel).
struct DecodeContract {
  const char* name;
  AlgorithmConfig (*build)(SplitPlanKind kind, int value);
};
const DecodeContract kDecodeContracts[] = {
    {"tc12", [](SplitPlanKind kind, int value) { return decode_tensor_core_algorithm(kind, value, 12); }},
    {"tc", [](SplitPlanKind kind, int value) { return decode_tensor_core_algorithm(kind, value, 4); }},
    {"mma", [](SplitPlanKind kind, int value) { return decode_algorithm(kind, value, DecodeQk::mma); }},
    {"fma", [](SplitPlanKind kind, int value) { return decode_algorithm(kind, value, DecodeQk::fma_halves); }},
};

/// --decode PLAN: fixed:N (N-key splits), splits:N (N splits of the longest entry), heuristic:C
/// (the GPU plan for C resident CTAs), under the contract --decode-contract names.
AlgorithmConfig decode_config(const std::string& plan, const std::string& contract) {
  const size_t colon = plan.find(':');
  const std::string kind = plan.substr(0, colon);
  int value = 0;
  try {
    size_t used = 0;
    value = colon == std::string::npos ? -1 : std::stoi(plan.substr(colon + 1), &used);
    if (colon != std::string::npos && used != plan.size() - colon - 1) value = -1;
  } catch (const std::exception&) {
    value = -1;
  }
  const DecodeContract* chosen = nullptr;
  std::string allowed;
  for (const DecodeContract& c : kDecodeContracts) {
    if (contract == c.name) chosen = &c;
    allowed += (allowed.empty() ? "" : ", ") + std::string(c.name);
  }
  if (chosen == nullptr) throw ProblemError("--decode-contract '" + contract + "' (allowed: " + allowed + ")");
  SplitPlanKind kind_of_plan;
  if (value > 0 && kind == "fixed") kind_of_plan = SplitPlanKind::fixed_keys;
  else if (value > 0 && kind == "splits") kind_of_plan = SplitPlanKind::count;
  else if (value > 0 && kind == "heuristic") kind_of_plan = SplitPlanKind::heuristic;
  else throw ProblemError("--decode '" + plan + "' (allowed: fixed:N, splits:N, heuristic:CTAS with N, CTAS positive)");
  return chosen->build(kind_of_plan, value);
}

KvBlockOrder parse_order(const std::string& text) {
  if (text == "forward") return KvBlockOrder::forward;
  if (text == "reverse") return KvBlockOrder::reverse;
  if (text == "random") return KvBlockOrder::random;
  throw CLI::ValidationError("--order", "'" + text + "' (allowed: forward, reverse, random)");
}

std::string pct(double part, double total) {
  if (!(total > 0)) return "    -";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%6.1f%%", 100.0 * part / total);
  return buf;
}

void run_attribute(const AttributeFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  const Problem problem = f.problem.problem(/*with_attribution=*/true);
  const InputSpec spec = f.problem.input_spec();

  AlgorithmConfig algorithm;
  if (!f.decode.empty()) {
    // The decode kernels (analysis/decode_emulator.h): their contract decides the P cast.
    if (f.precise) throw ProblemError("--precise: the decode contracts fix P's precision (FP32, or hi + lo for tc/tc12)");
    algorithm = decode_config(f.decode, f.decode_contract);
    algorithm.tiles.order = parse_order(f.order);
    algorithm.tiles.order_seed = f.order_seed;
  } else {
    algorithm.tiles = {f.block_m, f.block_n, f.splits, parse_order(f.order), f.order_seed};
    algorithm.p_cast = f.precise ? PCastMode::split_hi_lo : PCastMode::input_dtype;
  }
  algorithm.mutant = parse_mutant(f.mutant);
  TensorCoreModel tc = TensorCoreModel::h100();
  tc.extra_alignment_bits = f.extra_bits;
  if (f.tc_rounding == "nearest") tc.final_rounding = TcFinalRounding::nearest_even;
  else if (f.tc_rounding != "toward-zero")
    throw CLI::ValidationError("--tc-rounding", "'" + f.tc_rounding + "' (allowed: toward-zero, nearest)");
  tc.validate();
  if (auto why = emulator_invalid_reason(problem, algorithm)) throw ProblemError(*why);

  const AttentionInputs inputs = generate_inputs(problem, spec);
  AttributionOptions options;
  options.algorithm = algorithm;
  options.tensor_core = tc;
  options.threads = f.threads;
  const AttributionResult attribution = attribute_error(problem, inputs, options);

  OrderSensitivityResult order;
  double order_seconds = 0;
  if (!f.no_order) {
    const auto order_start = std::chrono::steady_clock::now();
    OrderSensitivityOptions order_options;
    order_options.base = algorithm;
    order_options.tensor_core = tc;
    order_options.threads = f.threads;
    order_options.max_splits = f.max_splits;
    order = order_sensitivity(problem, inputs, order_options);
    order_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - order_start).count();
  }
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (f.json) {
    nlohmann::json j;
    j["problem"] = problem.label();
    j["config"] = algorithm.describe();
    j["distribution"] = f.problem.dist;
    j["seed"] = f.problem.seed;
    j["truth"] = "emulator all-exact (double), mutant off";
    j["tensor_core"] = {{"group_size", tc.group_size}, {"extra_alignment_bits", tc.extra_alignment_bits},
                        {"final_rounding", f.tc_rounding}};
    j["attribution"] = attribution_to_json(attribution);
    if (!f.no_order) {
      for (const OrderVariantResult& v : order.variants)
        j["order_sensitivity"]["variants"].push_back(
            {{"name", v.name}, {"max_abs_vs_truth", v.max_abs_vs_truth}, {"rmse_vs_truth", v.rmse_vs_truth},
             {"max_abs_vs_base", v.max_abs_vs_base}, {"rmse_vs_base", v.rmse_vs_base},
             {"fraction_changed", v.fraction_changed}});
      j["order_sensitivity"]["spread_max_abs"] = order.spread_max_abs;
      j["order_sensitivity"]["spread_rmse"] = order.spread_rmse;
      j["order_sensitivity"]["batch_invariant"] = order.batch_invariant;
      j["order_sensitivity"]["batch_invariance_detail"] = order.batch_invariance_detail;
    }
    j["seconds"] = {{"attribution", attribution.seconds}, {"order_sensitivity", order_seconds}, {"total", total_seconds}};
    std::cout << j.dump(2) << "\n";
    return;
  }

  std::printf("attribution of %s, emulator %s, inputs %s seed %llu\n", problem.label().c_str(),
              algorithm.describe().c_str(), f.problem.dist.c_str(), static_cast<unsigned long long>(f.problem.seed));
  std::printf("truth: all-exact emulator (double arithmetic, no mutant)\n");
  std::printf("total error: rmse %.4e  max_abs %.4e   (semantic, every stage exact: rmse %.4e max_abs %.4e)\n\n",
              std::sqrt(attribution.total_mse), attribution.total_max_abs, std::sqrt(attribution.semantic_mse),
              attribution.semantic_max_abs);
  std::printf("%-14s %-24s %9s %9s %12s %12s\n", "stage", "category", "RMSE^2", "max_abs", "ablation", "ablation");
  std::printf("%-14s %-24s %9s %9s %12s %12s\n", "", "", "share", "share", "d(RMSE^2)", "d(max_abs)");
  for (const StageAttribution& s : attribution.stages)
    std::printf("%-14s %-24s %9s %9s %12.3e %12.3e\n", stage_name(s.stage), stage_category(s.stage),
                pct(s.shapley_mse, attribution.total_mse).c_str(), pct(s.shapley_max_abs, attribution.total_max_abs).c_str(),
                s.ablation_mse, s.ablation_max_abs);
  std::printf("%-14s %-24s %9s %9s\n", "(all exact)", "semantic", pct(attribution.semantic_mse, attribution.total_mse).c_str(),
              pct(attribution.semantic_max_abs, attribution.total_max_abs).c_str());
  std::printf("\n%-24s %9s %9s\n", "category", "RMSE^2", "max_abs");
  for (const CategoryAttribution& c : attribution.categories)
    std::printf("%-24s %9s %9s\n", c.category.c_str(), pct(c.shapley_mse, attribution.total_mse).c_str(),
                pct(c.shapley_max_abs, attribution.total_max_abs).c_str());
  std::printf("%-24s %9s %9s\n", "semantic", pct(attribution.semantic_mse, attribution.total_mse).c_str(),
              pct(attribution.semantic_max_abs, attribution.total_max_abs).c_str());
  std::printf("dominant: %s\n", dominant_category(attribution).c_str());
  if (!f.no_order) {
    std::printf("\norder sensitivity (same precision, other KV orders and splits):\n");
    std::printf("%-10s %12s %12s %12s %12s %9s\n", "variant", "max_abs", "rmse", "max_abs", "rmse", "changed");
    std::printf("%-10s %12s %12s %12s %12s %9s\n", "", "vs truth", "vs truth", "vs base", "vs base", "");
    for (const OrderVariantResult& v : order.variants)
      std::printf("%-10s %12.4e %12.4e %12.4e %12.4e %8.1f%%\n", v.name.c_str(), v.max_abs_vs_truth, v.rmse_vs_truth,
                  v.max_abs_vs_base, v.rmse_vs_base, 100 * v.fraction_changed);
    std::printf("spread from order alone: max_abs %.4e, rmse %.4e\n", order.spread_max_abs, order.spread_rmse);
    std::printf("batch invariance: %s (%s)\n", order.batch_invariant ? "yes" : "NO",
                order.batch_invariance_detail.c_str());
  }
  if (f.time)
    std::printf("\ntime: attribution %.3f s (128 policy subsets), order sensitivity %.3f s, total %.3f s\n",
                attribution.seconds, order_seconds, total_seconds);
}

}  // namespace

void add_attribute_command(CLI::App& app) {
  auto flags = std::make_shared<AttributeFlags>();
  auto* sub = app.add_subcommand("attribute", "Shapley attribution of one configuration's error over the emulator's stages");
  flags->problem.add_to(*sub);
  sub->add_option("--block-m", flags->block_m, "BLOCK_M")->capture_default_str();
  sub->add_option("--block-n", flags->block_n, "BLOCK_N (multiple of 16)")->capture_default_str();
  sub->add_option("--splits", flags->splits, "split-KV partitions")->capture_default_str();
  sub->add_option("--order", flags->order, "KV tile order: forward | reverse | random")->capture_default_str();
  sub->add_option("--order-seed", flags->order_seed, "seed of --order random")->capture_default_str();
  sub->add_flag("--precise", flags->precise, "P split into hi + lo (two PV products)");
  sub->add_option("--decode", flags->decode,
                  "emulate the KV-cache decode kernels instead of FA2, with this split plan: fixed:N (N-key splits), "
                  "splits:N (N splits of the longest entry), heuristic:CTAS");
  sub->add_option("--decode-contract", flags->decode_contract,
                  "the decode kernel whose numerics are emulated: tc12 (the production tensor-core kernel) | tc (its "
                  "4-stream form) | mma (tensor-core scores, FP32 P: the bulk kernel) | fma (the CUDA-core kernel)")
      ->capture_default_str();
  sub->add_option("--mutant", flags->mutant, "planted bug (emulator mutant), e.g. rescale-fp16")->capture_default_str();
  sub->add_option("--tc-extra-bits", flags->extra_bits, "tensor-core model: extra alignment bits")->capture_default_str();
  sub->add_option("--tc-rounding", flags->tc_rounding, "tensor-core model final rounding: toward-zero | nearest")
      ->capture_default_str();
  sub->add_option("--threads", flags->threads, "worker threads (0: all cores)")->capture_default_str();
  sub->add_option("--max-splits", flags->max_splits, "order sensitivity: split variants 2..N")->capture_default_str();
  sub->add_flag("--no-order", flags->no_order, "skip the order-sensitivity and batch-invariance runs");
  sub->add_flag("--json", flags->json, "machine-readable output");
  sub->add_flag("--time", flags->time, "print elapsed times");
  sub->callback([flags] { run_attribute(*flags); });
}

}  // namespace attn::cli
