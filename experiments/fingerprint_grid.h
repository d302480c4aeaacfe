// fingerprint_grid.h: the hypothesis grid of issue #16. Every precision hypothesis is planted —
// run as a kernel through the tensor-core model, with a KV tile width of its own (64 or 128,
// alternating over the grid) where its name leaves the width open — over S in {64, 257, 1000},
// D in {64, 128}, FP16/BF16, normal and outlier inputs, and the fingerprint must name it first;
// correct kernels (every registered full-path FA2 emulator configuration: 64- and 128-key tiles,
// split-KV, precise; and the FP32 two-pass reference as upcast) must never be called a precision
// defect. Scored twice: named first by hypothesis, and by precision signature (the formats of
// the intermediates, PrecisionHypothesis::precision_signature), with the plants whose named
// hypothesis computes their output bit for bit counted apart. Every mis-named case
// is kept with its scores. The full grid is a command (`attnscope fingerprint-grid`, its output
// committed under reports/cpu/fingerprint-grid/); a deterministic subset runs in the tests.
// What it is not: the fingerprint itself (analysis/fingerprint.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/fingerprint.h"
#include "core/generators.h"

namespace attn {

struct FingerprintGridSpec {
  std::vector<int64_t> seqlens = {64, 257, 1000};
  std::vector<int64_t> head_dims = {64, 128};
  std::vector<DType> dtypes = {DType::fp16, DType::bf16};
  std::vector<Distribution> distributions = {Distribution::normal, Distribution::outliers};
  int64_t heads = 2;
  uint64_t seed = 11;
  /// Hypothesis labels to plant (empty: every member of the family).
  std::vector<std::string> planted;
  bool healthy_kernels = true;  ///< also run the registered correct kernels
  FingerprintOptions options;
  /// The CI subset: S {64, 257}, D 64, both dtypes, both distributions.
  static FingerprintGridSpec ci_subset();
};

struct FingerprintGridCase {
  std::string config;     ///< "fp16 normal S257 D64"
  std::string planted;    ///< hypothesis label, or registered kernel name
  std::string plant_numerics;  ///< describe() of the planted hypothesis; the kernel's name otherwise
  bool planted_healthy = false;
  bool is_kernel = false; ///< a registered correct kernel (the "never a defect" check)
  std::string named;      ///< the fingerprint's verdict label
  FingerprintOutcome outcome = FingerprintOutcome::unexplained;
  bool named_first = false;     ///< the verdict names the planted hypothesis
  bool tied_with_named = false; ///< the planted hypothesis is listed as indistinguishable from it
  /// Precision signatures (PrecisionHypothesis::precision_signature) of the plant and of the
  /// named hypothesis ("" when unexplained, or for a registered kernel).
  std::string planted_signature, named_signature;
  /// The named hypothesis has the planted precision signature (the formats of scores, P, the PV
  /// accumulator, the rescale factor): the "planted precision named first". A tie with a
  /// hypothesis of another signature does not count.
  bool named_by_signature = false;
  /// The named hypothesis, as fitted, computes a bit-identical output to the plant's on the
  /// sampled rows (both through the tensor-core model): no input-independent statistic can
  /// separate them on this input.
  bool identical_output = false;
  double observed_excess = 0;
  std::vector<HypothesisFit> top;  ///< the three best fits
  std::string summary, confidence;
  /// Correct outcome: for a planted hypothesis, named first, tied with the named one, or the named
  /// one computes the plant's output bit for bit; for a correct kernel, not a precision defect.
  bool correct() const;
};

struct FingerprintGridResult {
  std::vector<FingerprintGridCase> cases;
  int64_t planted = 0, named_first = 0;
  int64_t named_or_tied = 0;  ///< FingerprintGridCase::correct(): named first, tied, or bit-identical
  int64_t named_by_signature = 0;
  /// Planted cases not named first (resp. not by signature) whose named hypothesis computes the
  /// plant's output bit for bit.
  int64_t identical_not_first = 0, identical_not_by_signature = 0;
  int64_t kernels = 0, kernels_called_defect = 0;
  double seconds = 0;
  double named_rate() const { return planted ? static_cast<double>(named_or_tied) / static_cast<double>(planted) : 0; }
  double strict_rate() const { return planted ? static_cast<double>(named_first) / static_cast<double>(planted) : 0; }
  double signature_rate() const {
    return planted ? static_cast<double>(named_by_signature) / static_cast<double>(planted) : 0;
  }
};

/// Runs the grid; `progress` (if set) is called after each case.
FingerprintGridResult run_fingerprint_grid(const FingerprintGridSpec& spec,
                                           const std::function<void(const FingerprintGridCase&)>& progress = {});

/// Markdown of a grid result: the rates, the per-configuration table, every mis-named case with
/// its scores.
std::string fingerprint_grid_markdown(const FingerprintGridSpec& spec, const FingerprintGridResult& result);

}  // namespace attn
