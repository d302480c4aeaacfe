// fingerprint_grid.cpp: the hypothesis grid (experiments/fingerprint_grid.h).
#include "experiments/fingerprint_grid.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/errors.h"
#include "experiments/register_all.h"

namespace attn {
namespace {

std::string config_name(DType dtype, Distribution dist, int64_t seqlen, int64_t head_dim) {
  return std::string(dtype_name(dtype)) + " " + distribution_name(dist) + " S" + std::to_string(seqlen) + " D" +
         std::to_string(head_dim);
}

FingerprintGridCase judge(const std::string& config, const std::string& planted, const std::string& numerics,
                          bool healthy, bool is_kernel, const PrecisionFingerprint& fp) {
  FingerprintGridCase c;
  c.config = config;
  c.planted = planted;
  c.plant_numerics = numerics;
  c.planted_healthy = healthy;
  c.is_kernel = is_kernel;
  c.named = fp.label;
  c.outcome = fp.outcome;
  c.observed_excess = fp.observed_excess;
  c.summary = fp.summary;
  c.confidence = fp.confidence;
  for (size_t i = 0; i < fp.fits.size() && i < 3; ++i) c.top.push_back(fp.fits[i]);
  c.named_first = fp.outcome != FingerprintOutcome::unexplained && fp.label == planted;
  for (const HypothesisFit& f : fp.fits)
    if (f.label == planted)
      c.tied_with_named = fp.outcome != FingerprintOutcome::unexplained &&
                          std::find(fp.indistinguishable.begin(), fp.indistinguishable.end(), f.name) !=
                              fp.indistinguishable.end();
  return c;
}

/// A plant's KV tile width: where the hypothesis' name leaves it open, 64 or 128 alternating
/// over the grid, so the fingerprint has to find the width rather than be handed its default.
int plant_block(const PrecisionHypothesis& h, size_t case_index) {
  const bool width_named = h.accumulator != &kFp32 && h.accumulate_keys == h.block_n;
  if (h.form != SoftmaxForm::online || width_named) return h.block_n;
  return case_index % 2 ? 128 : 64;
}

}  // namespace

bool FingerprintGridCase::correct() const {
  if (is_kernel) return outcome != FingerprintOutcome::precision;
  return named_first || tied_with_named;
}

FingerprintGridSpec FingerprintGridSpec::ci_subset() {
  FingerprintGridSpec s;
  s.seqlens = {64, 257};
  s.head_dims = {64};
  return s;
}

FingerprintGridResult run_fingerprint_grid(const FingerprintGridSpec& spec,
                                           const std::function<void(const FingerprintGridCase&)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  FingerprintGridResult result;
  size_t case_index = 0;
  for (DType dtype : spec.dtypes)
    for (Distribution dist : spec.distributions)
      for (int64_t seqlen : spec.seqlens)
        for (int64_t head_dim : spec.head_dims) {
          Problem p;
          p.seqlen_q = p.seqlen_k = seqlen;
          p.head_dim = head_dim;
          p.num_heads_q = p.num_heads_kv = spec.heads;
          p.dtype = dtype;
          p.mask = Mask{MaskKind::causal_bottom_right};
          p.validate();
          InputSpec input;
          input.distribution = dist;
          input.seed = spec.seed + case_index;
          const AttentionInputs in = generate_inputs(p, input);
          const std::string config = config_name(dtype, dist, seqlen, head_dim);
          // The plants compute the rows the fingerprint reads (rows are independent).
          const std::vector<QueryRow> rows = sample_query_rows(p, spec.options.max_rows_per_head);
          for (PrecisionHypothesis h : precision_hypotheses(dtype)) {
            if (!spec.planted.empty() && std::find(spec.planted.begin(), spec.planted.end(), h.label) == spec.planted.end())
              continue;
            const int block = plant_block(h, case_index++);
            if (h.accumulator == &kFp32 && h.accumulate_keys == h.block_n) h.accumulate_keys = block;
            h.block_n = block;
            const Tensor<double> o = run_hypothesis(p, in, h, dtype, /*tensor_core_products=*/true,
                                                    spec.options.threads, &rows);
            const FingerprintGridCase c =
                judge(config, h.label, h.describe(), h.healthy, false, fingerprint_precision(p, in, o, dtype, spec.options));
            ++result.planted;
            result.named_first += c.named_first;
            result.named_or_tied += c.correct();
            result.cases.push_back(c);
            if (progress) progress(c);
          }
          if (!spec.healthy_kernels) continue;
          // The healthy FA2 emulator configurations of the 64x64 tile (plain, split-KV, precise), chosen
          // by their typed traits (the full path: not the decode kernels' emulator configurations), and
          // the FP32 reference.
          std::vector<const Kernel*> healthy;
          for (const Kernel* k :
               all_kernels().select({.design = "emu", .dtype = dtype, .path = KernelPath::full, .mutant = Mutant::none}))
            if (k->info.algorithm && k->info.algorithm->tiles.block_m == 64 && k->info.algorithm->tiles.block_n == 64)
              healthy.push_back(k);
          healthy.push_back(&all_kernels().get("naive-fp32"));
          for (const Kernel* healthy_kernel : healthy) {
            const Kernel& kernel = *healthy_kernel;
            const std::string& name = kernel.info.name;
            if (kernel.invalid_reason && kernel.invalid_reason(p)) continue;
            AttentionOutputs out = kernel.run(p, in);
            // The FP32 reference's output is stored in the input dtype, as an upcast kernel's is.
            for (double& x : out.o.storage()) x = round_to(dtype, x);
            const FingerprintGridCase c =
                judge(config, name, name, true, true, fingerprint_precision(p, in, out.o, dtype, spec.options));
            ++result.kernels;
            result.kernels_called_defect += c.outcome == FingerprintOutcome::precision;
            result.cases.push_back(c);
            if (progress) progress(c);
          }
        }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string fingerprint_grid_markdown(const FingerprintGridSpec& spec, const FingerprintGridResult& r) {
  std::ostringstream md;
  char buf[512];
  md << "# Fingerprint hypothesis grid\n\n";
  md << "Planted: every hypothesis of the family, run as a kernel through the H100 tensor-core model (KV tile 64 or "
        "128 alternating where the hypothesis leaves it open); correct kernels: ";
  md << (spec.healthy_kernels ? "emu.<dtype>.dany.m64n64 (plain, split4, precise) and naive-fp32 (upcast, stored in "
                                "the input dtype)"
                              : "none");
  md << ". S in {";
  for (size_t i = 0; i < spec.seqlens.size(); ++i) md << (i ? ", " : "") << spec.seqlens[i];
  md << "}, D in {";
  for (size_t i = 0; i < spec.head_dims.size(); ++i) md << (i ? ", " : "") << spec.head_dims[i];
  md << "}, " << spec.heads << " heads, causal, normal and outlier inputs; " << spec.options.max_rows_per_head
     << " rows per head sampled.\n\n";
  std::snprintf(buf, sizeof buf,
                "- planted hypotheses: %lld cases; named first %lld (%.1f%%); named first or listed as "
                "indistinguishable from the one named %lld (%.1f%%)\n",
                static_cast<long long>(r.planted), static_cast<long long>(r.named_first), 100 * r.strict_rate(),
                static_cast<long long>(r.named_or_tied), 100 * r.named_rate());
  md << buf;
  std::snprintf(buf, sizeof buf, "- correct kernels: %lld cases; called a precision defect: %lld\n",
                static_cast<long long>(r.kernels), static_cast<long long>(r.kernels_called_defect));
  md << buf;
  std::snprintf(buf, sizeof buf, "- wall time %.1f s\n\n", r.seconds);
  md << buf;
  // Per planted label: how often named first / tied / missed.
  md << "## Per planted hypothesis\n\n| planted | cases | named first | tied | missed |\n|---|---:|---:|---:|---:|\n";
  std::vector<std::string> labels;
  for (const FingerprintGridCase& c : r.cases)
    if (std::find(labels.begin(), labels.end(), c.planted) == labels.end()) labels.push_back(c.planted);
  for (const std::string& label : labels) {
    int n = 0, first = 0, tied = 0, missed = 0;
    for (const FingerprintGridCase& c : r.cases) {
      if (c.planted != label) continue;
      ++n;
      if (c.is_kernel) {
        first += c.correct();
        missed += !c.correct();
        continue;
      }
      first += c.named_first;
      tied += !c.named_first && c.tied_with_named;
      missed += !c.correct();
    }
    md << "| " << label << " | " << n << " | " << first << " | " << tied << " | " << missed << " |\n";
  }
  md << "\n(For a correct kernel, \"named first\" counts the cases not called a precision defect.)\n\n";
  auto case_block = [&](const FingerprintGridCase& c) {
    md << "- **" << c.config << "**, planted `" << c.planted << "` (" << c.plant_numerics << "): named `" << c.named
       << "` (" << fingerprint_outcome_name(c.outcome) << ", observed excess ";
    std::snprintf(buf, sizeof buf, "%.3g", c.observed_excess);
    md << buf << "; confidence " << c.confidence << ")\n";
    for (const HypothesisFit& f : c.top) {
      std::snprintf(buf, sizeof buf, "  - `%s`: fit %.3f, excess %.3g, correlation %.3f, rmse ratio %.3f, rows %.3f, mismatch %.3g\n",
                    f.label.c_str(), f.fit, f.excess, f.correlation, f.rmse_ratio, f.profile_correlation, f.mismatch);
      md << buf;
    }
  };
  md << "## Mis-named cases (every one, with its three best fits)\n\n";
  int missed = 0;
  for (const FingerprintGridCase& c : r.cases)
    if (!c.correct()) {
      case_block(c);
      ++missed;
    }
  if (!missed) md << "None.\n";
  md << "\n## Named only as indistinguishable (the verdict names another hypothesis and lists the planted one as "
        "indistinguishable on this input)\n\n";
  int tied = 0;
  for (const FingerprintGridCase& c : r.cases)
    if (!c.is_kernel && !c.named_first && c.tied_with_named) {
      case_block(c);
      ++tied;
    }
  if (!tied) md << "None.\n";
  return md.str();
}

}  // namespace attn
