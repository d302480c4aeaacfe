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
  if (fp.outcome != FingerprintOutcome::unexplained) c.named_signature = fp.named_hypothesis.precision_signature();
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

/// Whether two outputs are bit-identical on `rows` (the rows a plant computes).
bool same_rows(const Tensor<double>& a, const Tensor<double>& b, const std::vector<QueryRow>& rows) {
  const int64_t D = a.dim(3);
  for (const QueryRow& r : rows)
    for (int64_t d = 0; d < D; ++d)
      if (a(r.batch, r.row, r.head, d) != b(r.batch, r.row, r.head, d)) return false;
  return true;
}

}  // namespace

bool FingerprintGridCase::correct() const {
  if (is_kernel) return outcome != FingerprintOutcome::precision;
  // A named hypothesis that computes the plant's output bit for bit is not a mis-naming: no
  // statistic of the output can tell them apart (the report still lists it by signature).
  return named_first || tied_with_named || identical_output;
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
            const PrecisionFingerprint fp = fingerprint_precision(p, in, o, dtype, spec.options);
            FingerprintGridCase c = judge(config, h.label, h.describe(), h.healthy, false, fp);
            c.planted_signature = h.precision_signature();
            c.named_by_signature = c.outcome != FingerprintOutcome::unexplained && c.named_signature == c.planted_signature;
            if (c.outcome != FingerprintOutcome::unexplained)
              c.identical_output = same_rows(o, run_hypothesis(p, in, fp.named_hypothesis, dtype, /*tensor_core_products=*/true,
                                                               spec.options.threads, &rows), rows);
            ++result.planted;
            result.named_first += c.named_first;
            result.named_or_tied += c.correct();
            result.named_by_signature += c.named_by_signature;
            result.identical_not_first += !c.named_first && c.identical_output;
            result.identical_not_by_signature += !c.named_by_signature && c.identical_output;
            result.cases.push_back(c);
            if (progress) progress(c);
          }
          if (!spec.healthy_kernels) continue;
          // Every healthy FA2 emulator configuration of the full path (64- and 128-key tiles, split-KV,
          // precise; not the decode kernels' configurations, nor the FP8 ones: E4M3 operands are a
          // precision choice, not a 16-bit kernel the fingerprint must call healthy), chosen by their
          // typed traits, and the FP32 reference.
          std::vector<const Kernel*> healthy;
          for (const Kernel* k :
               all_kernels().select({.design = "emu", .dtype = dtype, .path = KernelPath::full, .mutant = Mutant::none}))
            if (k->info.algorithm && !k->info.algorithm->fp8.enabled()) healthy.push_back(k);
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
  md << (spec.healthy_kernels ? "every emu.<dtype>.dany full-path configuration (m64n64, m128n64, m128n128, split4, "
                                "precise, m128n128.precise) and naive-fp32 (upcast, stored in the input dtype)"
                              : "none");
  md << ". S in {";
  for (size_t i = 0; i < spec.seqlens.size(); ++i) md << (i ? ", " : "") << spec.seqlens[i];
  md << "}, D in {";
  for (size_t i = 0; i < spec.head_dims.size(); ++i) md << (i ? ", " : "") << spec.head_dims[i];
  md << "}, " << spec.heads << " heads, causal, normal and outlier inputs; " << spec.options.max_rows_per_head
     << " rows per head sampled.\n\n";
  const auto count = [](int64_t n) { return static_cast<long long>(n); };
  const auto percent = [&](int64_t n) { return r.planted ? 100.0 * static_cast<double>(n) / static_cast<double>(r.planted) : 0.0; };
  std::snprintf(buf, sizeof buf,
                "- planted hypotheses: %lld cases\n"
                "  - **named first by precision signature: %lld (%.1f%%)** (the issue's criterion, rule below)\n"
                "  - named first by hypothesis: %lld (%.1f%%)\n"
                "  - named first, listed as indistinguishable from the one named, or computed bit for bit by it: "
                "%lld (%.1f%%)\n"
                "  - not named first, but the named hypothesis computes the plant's output bit for bit on the sampled "
                "rows: %lld (of them not named by signature: %lld)\n",
                count(r.planted), count(r.named_by_signature), percent(r.named_by_signature), count(r.named_first),
                percent(r.named_first), count(r.named_or_tied), percent(r.named_or_tied), count(r.identical_not_first),
                count(r.identical_not_by_signature));
  md << buf;
  std::snprintf(buf, sizeof buf, "- correct kernels: %lld cases; called a precision defect: %lld\n",
                count(r.kernels), count(r.kernels_called_defect));
  md << buf;
  std::snprintf(buf, sizeof buf, "- wall time %.1f s\n\n", r.seconds);
  md << buf;
  md << "**The rule.** A hypothesis is a precision signature — the formats of q (and k) with a folded scale, the "
        "scores, P, the PV accumulator (with its block of keys when coarser than FP32) and the rescale factor "
        "(when coarser than FP32; the output format is the dump's) — plus details that are not precisions: the exp "
        "flavour, online vs two-pass, the KV tile width where it is not the accumulation block. *Named first by "
        "hypothesis*: the verdict's label is the plant's. *Named first by precision signature*: the verdict's "
        "hypothesis has the plant's signature; a tie with a hypothesis of another signature is never counted. "
        "*Bit-identical*: the named hypothesis, as fitted (its tile width), run like the plant (tensor-core model) on "
        "the sampled rows, gives the plant's output exactly.\n\n";
  // Per planted label: how often named first / by signature / tied / missed.
  md << "## Per planted hypothesis\n\n| planted | precision signature | cases | named first | by signature | tied | "
        "bit-identical, not first | missed |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
  std::vector<std::string> labels;
  for (const FingerprintGridCase& c : r.cases)
    if (std::find(labels.begin(), labels.end(), c.planted) == labels.end()) labels.push_back(c.planted);
  for (const std::string& label : labels) {
    int n = 0, first = 0, by_signature = 0, tied = 0, identical = 0, missed = 0;
    std::string signature;
    for (const FingerprintGridCase& c : r.cases) {
      if (c.planted != label) continue;
      ++n;
      if (!c.planted_signature.empty() && signature.find(c.planted_signature) == std::string::npos)
        signature += (signature.empty() ? "" : "; ") + c.planted_signature;  // one per input dtype
      if (c.is_kernel) {
        first += c.correct();
        missed += !c.correct();
        continue;
      }
      first += c.named_first;
      by_signature += c.named_by_signature;
      tied += !c.named_first && c.tied_with_named;
      identical += !c.named_first && c.identical_output;
      missed += !c.correct();
    }
    md << "| " << label << " | " << (signature.empty() ? "(registered kernel)" : signature) << " | " << n << " | "
       << first << " | " << (signature.empty() ? "" : std::to_string(by_signature)) << " | " << tied << " | "
       << identical << " | " << missed << " |\n";
  }
  md << "\n(For a correct kernel, \"named first\" counts the cases not called a precision defect.)\n\n";
  auto case_block = [&](const FingerprintGridCase& c) {
    md << "- **" << c.config << "**, planted `" << c.planted << "` (" << c.plant_numerics << "): named `" << c.named
       << "` (" << fingerprint_outcome_name(c.outcome) << ", observed excess ";
    std::snprintf(buf, sizeof buf, "%.3g", c.observed_excess);
    md << buf << "; confidence " << c.confidence << ")";
    if (!c.is_kernel)
      md << "; signatures: planted `" << c.planted_signature << "`, named `" << c.named_signature << "`"
         << (c.identical_output ? "; bit-identical outputs" : "");
    md << "\n";
    for (const HypothesisFit& f : c.top) {
      std::snprintf(buf, sizeof buf, "  - `%s`: fit %.3f, excess %.3g, correlation %.3f, rmse ratio %.3f, rows %.3f, mismatch %.3g\n",
                    f.label.c_str(), f.fit, f.excess, f.correlation, f.rmse_ratio, f.profile_correlation, f.mismatch);
      md << buf;
    }
  };
  auto section = [&](const std::string& title, auto wanted) {
    md << "## " << title << "\n\n";
    int n = 0;
    for (const FingerprintGridCase& c : r.cases)
      if (wanted(c)) {
        case_block(c);
        ++n;
      }
    if (!n) md << "None.\n";
    md << "\n";
  };
  section("Mis-named cases (not named first, not listed as indistinguishable, not bit-identical to the one named; "
          "every one, with its three best fits)",
          [](const FingerprintGridCase& c) { return !c.correct(); });
  section("Not named by precision signature (every planted case, with its three best fits)",
          [](const FingerprintGridCase& c) { return !c.is_kernel && !c.named_by_signature; });
  section("Named by precision signature but not by hypothesis (where the two criteria differ)",
          [](const FingerprintGridCase& c) { return !c.is_kernel && c.named_by_signature && !c.named_first; });
  return md.str();
}

}  // namespace attn
