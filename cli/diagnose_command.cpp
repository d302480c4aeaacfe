// `attnscope diagnose FILE.safetensors|FILE.npz [--layout bshd|bhsd]`: semantic diagnosis of a
// dumped output. The file holds q, k, v, o in the declared layout ([B, S, H, D] by default,
// [B, H, S, D] with --layout bhsd; optionally seq_lens: valid keys per batch entry); flags declare
// the semantics the kernel claims (defaults per DESIGN.md). Prints the verdict first, then the
// evidence (error under declared and alternative semantics), then where, then the precision
// fingerprint (which intermediate's precision explains the error) when no semantic bug was
// found. When the declared layout misses (or makes no valid problem) and the other layout fits,
// the verdict says so. Exit status: 1 when a bug was found (a semantic bug, an unknown one, the
// other layout), else 0 — also when the fingerprint names coarse numerics.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "analysis/diagnosis.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "core/io_safetensors.h"
#include "experiments/external/judgement.h"

namespace attn::cli {
namespace {

struct DiagnoseFlags {
  std::string path, mask = "causal", gqa = "contiguous", dtype, layout = "bshd";
  double scale = 0;
  int64_t max_rows = 256;
  int64_t fingerprint_rows = 64;
  bool json = false, no_fingerprint = false;
};

const Tensor<double>& required(const TensorFile& f, const std::string& name, const std::string& path,
                               const std::string& layout) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) {
    std::string names;
    for (const auto& [n, _] : f.tensors) names += (names.empty() ? "" : ", ") + n;
    throw FileFormatError("'" + printable_path(path) + "' has no tensor '" + name + "' (it has: " + names +
                          "); attnscope diagnose needs q, k, v, o in " + layout);
  }
  if (it->second.values.rank() != 4)
    throw FileFormatError("'" + printable_path(path) + "': tensor '" + name + "' has shape " + shape_string(it->second.values.shape()) +
                          ", expected 4 dimensions (" + layout + ")");
  return it->second.values;
}

/// The fingerprint's table: the best hypotheses and what they are.
void print_fingerprint(const PrecisionFingerprint& fp) {
  std::printf("\n  precision fingerprint (%s; %lld rows, %.2f s; confidence %s):\n", fingerprint_outcome_name(fp.outcome),
              static_cast<long long>(fp.rows_sampled), fp.seconds, fp.confidence.c_str());
  std::printf("  %-14s %6s %9s %7s %7s %7s %9s  %s\n", "hypothesis", "fit", "excess", "corr", "ratio", "rows", "mismatch",
              "numerics");
  const size_t shown = std::min<size_t>(fp.fits.size(), 8);
  for (size_t i = 0; i < shown; ++i) {
    const HypothesisFit& f = fp.fits[i];
    std::printf("  %-14s %6.3f %9.3g %7.3f %7.3f %7.3f %9.3g  %s%s\n", f.label.c_str(), f.fit, f.excess, f.correlation,
                f.rmse_ratio, f.profile_correlation, f.mismatch, f.numerics.c_str(), f.healthy ? "" : "  [coarser than FA2]");
  }
  if (fp.fits.size() > shown) std::printf("  ... %zu more (--json lists every hypothesis)\n", fp.fits.size() - shown);
  for (const std::string& name : fp.indistinguishable) std::printf("  cannot be told apart from the one named on this input: %s\n", name.c_str());
  for (const std::string& s : fp.separations) std::printf("  separated by the difference test: %s\n", s.c_str());
  std::printf("  fit = match of RMSE x (element correlation of O - truth with H - truth + per-row RMSE correlation)/2;\n"
              "  mismatch = RMSE(O - H) in rounding-floor units; observed excess %.3g.\n", fp.observed_excess);
}

}  // namespace

void add_diagnose_command(CLI::App& app) {
  auto f = std::make_shared<DiagnoseFlags>();
  auto* sub = app.add_subcommand("diagnose", "Tell a semantic bug from rounding in a dumped attention output");
  sub->add_option("file", f->path, ".safetensors or .npz with q, k, v, o (in --layout), optional seq_lens")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--mask", f->mask, "declared mask: causal (bottom-right) | top-left | none | window:L,R")->capture_default_str();
  sub->add_option("--scale", f->scale, "declared softmax scale (default 1/sqrt(D))");
  sub->add_option("--gqa", f->gqa, "declared GQA mapping: contiguous | interleaved")->capture_default_str();
  sub->add_option("--dtype", f->dtype, "output dtype (default: o's stored dtype)");
  sub->add_option("--layout", f->layout, "layout of q, k, v, o in the file: bshd ([B, S, H, D]) | bhsd ([B, H, S, D])")
      ->capture_default_str();
  sub->add_option("--max-rows", f->max_rows, "rows sampled per (batch, head)")->capture_default_str();
  sub->add_flag("--json", f->json, "machine-readable output");
  sub->add_flag("--no-fingerprint", f->no_fingerprint, "skip the precision fingerprint");
  sub->add_option("--fingerprint-rows", f->fingerprint_rows, "rows per (batch, head) the precision fingerprint samples")
      ->capture_default_str()->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  sub->callback([f] {
    const TensorFile file = read_tensor_file(f->path);
    DeclaredSemantics declared;
    try {
      declared.layout = parse_layout(f->layout);
    } catch (const Error& e) {
      throw CLI::ValidationError("--layout", e.what());
    }
    const std::string layout_text = f->layout == "bhsd" ? "[B, H, S, D]" : "[B, S, H, D]";
    const Tensor<double>& q = required(file, "q", f->path, layout_text);
    const Tensor<double>& k = required(file, "k", f->path, layout_text);
    const Tensor<double>& v = required(file, "v", f->path, layout_text);
    const Tensor<double>& o = required(file, "o", f->path, layout_text);
    declared.dtype = stored_float_dtype(file.tensors.at("q").type);
    try {
      declared.mask = parse_mask(f->mask);
    } catch (const Error& e) {
      throw CLI::ValidationError("--mask", e.what());
    }
    try {
      declared.gqa = parse_gqa(f->gqa);
    } catch (const Error& e) {
      throw CLI::ValidationError("--gqa", e.what());
    }
    if (f->scale != 0) declared.scale = f->scale;
    if (file.tensors.count("seq_lens"))
      for (double x : file.tensors.at("seq_lens").values.storage()) {
        if (!(x >= 0 && x <= static_cast<double>(kMaxDimension)) || x != std::floor(x))
          throw FileFormatError("'" + printable_path(f->path) + "': seq_lens holds " + std::to_string(x) +
                                ", not a key count");
        declared.seq_lens.push_back(static_cast<int64_t>(x));
      }
    DType out_dtype = stored_float_dtype(file.tensors.at("o").type);
    if (!f->dtype.empty()) {
      try {
        out_dtype = parse_dtype(f->dtype);
      } catch (const Error& e) {
        throw CLI::ValidationError("--dtype", e.what());
      }
    }
    DiagnosisOptions options;
    options.max_rows_per_head = f->max_rows;
    options.fingerprint = !f->no_fingerprint;
    options.fingerprint_options.max_rows_per_head = f->fingerprint_rows;
    TensorDiagnosis t;
    try {
      t = diagnose_tensors(q, k, v, o, declared, out_dtype, options);
    } catch (const ProblemError& e) {
      throw FileFormatError("'" + printable_path(f->path) + "': the tensors describe no valid problem: " + e.what());
    }
    const Diagnosis& dx = t.diagnosis;
    const Problem& p = t.problem;
    // Exit 1 when a bug was found (a semantic bug, an unknown one, or the wrong layout), 0 for
    // "no semantic bug" in the declared layout. The precision the fingerprint names is a finding,
    // not a failure: the same-precision baseline itself has coarser-than-FA2 numerics, and the
    // FlashAttention rule (run, check, gate) is what judges an error's size.
    const auto exit_with_verdict = [&t] {
      if (t.fits_layout || t.diagnosis.verdict != "no semantic bug")
        throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
    };
    if (f->json) {
      nlohmann::json alts = nlohmann::json::array();
      for (const auto& a : dx.alternatives) alts.push_back(candidate_json(a));
      std::cout << nlohmann::json{{"file", printable_path(f->path)}, {"problem", p.label()},  {"verdict", dx.verdict},
                                  {"verdict_line", t.verdict}, {"layout", f->layout},
                                  {"fits_layout", t.fits_layout ? nlohmann::json(layout_name(*t.fits_layout)) : nlohmann::json()},
                                  {"category", dx.category}, {"bug", dx.bug}, {"also_matching", dx.also_matching},     {"declared", candidate_json(dx.declared)},
                                  {"alternatives", alts}, {"where", dx.where},   {"rows_checked", dx.rows_checked},
                                  {"metadata", file.metadata},
                                  {"precision", dx.precision ? fingerprint_json(*dx.precision, true) : nlohmann::json()}}
                       .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      exit_with_verdict();
      return;
    }
    std::cout << "verdict: " << t.verdict;
    if (dx.precision && !t.fits_layout) std::cout << " — " << dx.precision->summary;  // issue #16's verdict grammar
    for (size_t i = 1; i < dx.also_matching.size(); ++i)
      std::cout << "\n  equally consistent with this input: " << dx.also_matching[i];
    std::cout << "\n  " << printable_path(f->path) << ": " << p.label() << " (" << dx.rows_checked << " of " << dx.rows_total
              << " rows checked)\n  where: " << dx.where << "\n\n";
    std::printf("  %-72s %9s %9s %9s %14s\n", "semantics", "excess", "ulp_max", "max_abs", "rows: alt/decl");
    auto line = [](const SemanticCandidate& c, const char* tag) {
      char rows[64] = "";
      if (c.rows_differing) std::snprintf(rows, sizeof rows, "%lld: %.3g/%.3g", static_cast<long long>(c.rows_differing),
                                          c.excess_on_rows, c.declared_excess_on_rows);
      std::printf("  %-72s %9.3g %9.3g %9.3g %14s %s\n", (std::string(tag) + c.name).substr(0, 72).c_str(), c.excess,
                  c.error.ulp_max, c.error.max_abs, rows, c.indistinguishable ? "(indistinguishable on this input)" : "");
    };
    line(dx.declared, "");
    for (const auto& a : dx.alternatives) line(a, "  ");
    std::cout << "\n  excess = RMSE / RMSE of the correctly rounded truth (a correct kernel: 1-4). rows: alt/decl =\n"
                 "  on the N rows where that meaning differs from the declared one, excess against it / against the\n"
                 "  declared; a bug is named when an alternative is within "
              << kExcessRounding << " there and " << kExplainFactor << "x better.\n";
    if (dx.precision) print_fingerprint(*dx.precision);
    exit_with_verdict();
  });
}

}  // namespace attn::cli
