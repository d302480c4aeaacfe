// `attnscope diagnose FILE.safetensors|FILE.npz`: semantic diagnosis of a dumped output.
// The file holds q, k, v, o in [B, S, H, D] (optionally seq_lens: valid keys per batch entry);
// flags declare the semantics the kernel claims (defaults per DESIGN.md). Prints the verdict
// first, then the evidence (error under declared and alternative semantics), then where.
#include <cmath>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "analysis/diagnosis.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "core/io_safetensors.h"

namespace attn::cli {
namespace {

struct DiagnoseFlags {
  std::string path, mask = "causal", gqa = "contiguous", dtype;
  double scale = 0;
  int64_t max_rows = 256;
  bool json = false;
};

const Tensor<double>& required(const TensorFile& f, const std::string& name, const std::string& path) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) {
    std::string names;
    for (const auto& [n, _] : f.tensors) names += (names.empty() ? "" : ", ") + n;
    throw FileFormatError("'" + path + "' has no tensor '" + name + "' (it has: " + names +
                          "); attnscope diagnose needs q, k, v, o in [B, S, H, D]");
  }
  if (it->second.values.rank() != 4 && name != "seq_lens")
    throw FileFormatError("'" + path + "': tensor '" + name + "' has shape " + shape_string(it->second.values.shape()) +
                          ", expected 4 dimensions [B, S, H, D]");
  return it->second.values;
}

nlohmann::json candidate_json(const SemanticCandidate& c) {
  return {{"name", c.name}, {"category", c.category}, {"excess", c.excess}, {"ulp_max", c.error.ulp_max},
          {"max_abs", c.error.max_abs}, {"indistinguishable", c.indistinguishable},
          {"rows_differing", c.rows_differing}, {"excess_on_rows", c.excess_on_rows},
          {"declared_excess_on_rows", c.declared_excess_on_rows}};
}

}  // namespace

void add_diagnose_command(CLI::App& app) {
  auto f = std::make_shared<DiagnoseFlags>();
  auto* sub = app.add_subcommand("diagnose", "Tell a semantic bug from rounding in a dumped attention output");
  sub->add_option("file", f->path, ".safetensors or .npz with q, k, v, o ([B, S, H, D]), optional seq_lens")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--mask", f->mask, "declared mask: causal (bottom-right) | top-left | none | window:L,R")->capture_default_str();
  sub->add_option("--scale", f->scale, "declared softmax scale (default 1/sqrt(D))");
  sub->add_option("--gqa", f->gqa, "declared GQA mapping: contiguous | interleaved")->capture_default_str();
  sub->add_option("--dtype", f->dtype, "output dtype (default: o's stored dtype)");
  sub->add_option("--max-rows", f->max_rows, "rows sampled per (batch, head)")->capture_default_str();
  sub->add_flag("--json", f->json, "machine-readable output");
  sub->callback([f] {
    const TensorFile file = read_tensor_file(f->path);
    AttentionInputs in{required(file, "q", f->path), required(file, "k", f->path), required(file, "v", f->path)};
    const Tensor<double>& o = required(file, "o", f->path);
    Problem p;
    p.batch = in.q.dim(0);
    p.seqlen_q = in.q.dim(1);
    p.num_heads_q = in.q.dim(2);
    p.head_dim = in.q.dim(3);
    p.seqlen_k = in.k.dim(1);
    p.num_heads_kv = in.k.dim(2);
    const DType stored = stored_float_dtype(file.tensors.at("q").type);
    p.dtype = stored;
    try {
      p.mask = parse_mask(f->mask);
    } catch (const Error& e) {
      throw CLI::ValidationError("--mask", e.what());
    }
    try {
      p.gqa = parse_gqa(f->gqa);
    } catch (const Error& e) {
      throw CLI::ValidationError("--gqa", e.what());
    }
    if (f->scale != 0) p.softmax_scale = f->scale;
    if (file.tensors.count("seq_lens"))
      for (double x : file.tensors.at("seq_lens").values.storage()) {
        if (!(x >= 0 && x <= static_cast<double>(kMaxDimension)) || x != std::floor(x))
          throw FileFormatError("'" + printable_path(f->path) + "': seq_lens holds " + std::to_string(x) +
                                ", not a key count");
        p.seqlens_k.push_back(static_cast<int64_t>(x));
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
    try {
      p.validate();
    } catch (const ProblemError& e) {
      throw FileFormatError("'" + printable_path(f->path) + "': the tensors describe no valid problem: " + e.what());
    }
    p.require_memory_for_run();
    const Diagnosis dx = diagnose(p, in, o, out_dtype, options);
    // Exit 1 when a bug was found (a semantic bug or an unknown one), 0 for "no semantic bug".
    const auto exit_with_verdict = [&dx] {
      if (dx.verdict != "no semantic bug") throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
    };
    if (f->json) {
      nlohmann::json alts = nlohmann::json::array();
      for (const auto& a : dx.alternatives) alts.push_back(candidate_json(a));
      std::cout << nlohmann::json{{"file", printable_path(f->path)},     {"problem", p.label()},  {"verdict", dx.verdict},
                                  {"category", dx.category}, {"bug", dx.bug}, {"also_matching", dx.also_matching},     {"declared", candidate_json(dx.declared)},
                                  {"alternatives", alts}, {"where", dx.where},   {"rows_checked", dx.rows_checked},
                                  {"metadata", file.metadata}}
                       .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
      exit_with_verdict();
      return;
    }
    std::cout << "verdict: " << dx.verdict;
    if (!dx.category.empty()) std::cout << " — " << dx.category << ": " << dx.bug;
    for (size_t i = 1; i < dx.also_matching.size(); ++i)
      std::cout << "\n  equally consistent with this input: " << dx.also_matching[i];
    std::cout << "\n  " << f->path << ": " << p.label() << " (" << dx.rows_checked << " of " << dx.rows_total
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
    exit_with_verdict();
  });
}

}  // namespace attn::cli
