// results_flat.cpp: the results_flat column list, its view and the CSV/JSON export (results_flat.h).
#include "experiments/results_flat.h"

#include <cmath>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "core/kernel_config.h"
#include "experiments/results_db.h"

namespace attn {
namespace {

/// An SQL string literal holding a JSON path with every label quoted ($."a b"."c").
std::string json_path(const std::vector<std::string>& labels) {
  std::string path = "'$";
  for (const std::string& label : labels) {
    path += ".\"";
    for (char c : label) path += c == '\'' ? std::string("''") : std::string(1, c);
    path += "\"";
  }
  return path + "'";
}

std::string extract(const std::string& column, const std::vector<std::string>& labels) {
  return "json_extract(" + column + ", " + json_path(labels) + ")";
}

/// "accumulation order" -> "accumulation_order"; "p_cast" stays.
std::string identifier(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == ' ' || c == '-') ? '_' : c;
  return out;
}

/// 0.5 -> "0p5", 64 -> "64".
std::string edge_text(double edge) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", edge);
  std::string s = buf;
  for (char& c : s)
    if (c == '.') c = 'p';
  return s;
}

std::vector<FlatColumn> make_columns() {
  std::vector<FlatColumn> c;
  auto add = [&](std::string name, std::string sql, std::string type, std::string meaning) {
    c.push_back({std::move(name), std::move(sql), std::move(type), std::move(meaning)});
  };
  // ---- the row -----------------------------------------------------------------------------
  add("sweep", "sweep", "text", "sweep name (the spec's `name`)");
  add("point_key", "point_key", "text", "stable key of the point within its sweep (kernel + problem + inputs)");
  add("kernel", "kernel", "text", "registered kernel name");
  add("status", "status", "text", "ok | invalid (the kernel cannot run this point; `message` says why) | error");
  add("message", "message", "text", "reason for invalid / error; empty when ok");
  add("created_at", "created_at", "text", "when the row was written (UTC, ISO 8601)");
  // ---- configuration -----------------------------------------------------------------------
  add("family", extract("config", {"family"}), "text", "reference | emulator | cuda | mutant | peer");
  add("planted_bug", extract("config", {"planted_bug"}), "text",
      "a mutant's bug category (masking, gqa, cache-length, rescaling, split-combine); empty for a correct kernel");
  add("mutant", extract("config", {"traits", "mutant"}), "text", "the planted mutant's name (NULL: none)");
  for (const char* field : {"batch", "seqlen_q", "seqlen_k", "cache_depth", "num_heads_q", "num_heads_kv", "gqa_ratio",
                            "head_dim"})
    add(field, extract("config", {field}), "integer",
        std::string(field) == "cache_depth"   ? "keys already cached before the queries: seqlen_k - seqlen_q"
        : std::string(field) == "gqa_ratio"   ? "num_heads_q / num_heads_kv"
        : std::string(field) == "seqlen_k"    ? "keys (cache + new)"
        : std::string(field) == "seqlen_q"    ? "query rows (new tokens)"
                                              : "problem shape");
  add("dtype", extract("config", {"dtype"}), "text", "input dtype: fp16 | bf16 | fp32");
  add("mask", extract("config", {"mask"}), "text", "causal (bottom-right) | top-left | none | window:L,R");
  add("scale", extract("config", {"scale"}), "real", "softmax scale (1/sqrt(head_dim) unless set)");
  add("distribution", extract("config", {"distribution"}), "text", "input distribution (core/generators.h)");
  add("seed", extract("config", {"seed"}), "integer", "input seed (Philox)");
  add("label", extract("config", {"label"}), "text", "the problem in one string");
  // The tile the kernel ran with: the point's own (a block-size sweep axis) or the kernel's traits.
  for (const auto& [column, trait] : {std::pair<const char*, const char*>{"block_m", "block_m"},
                                      {"block_n", "block_n"},
                                      {"num_splits", "num_splits"}})
    add(column,
        "COALESCE(" + extract("config", {column}) + ", CAST(" + extract("config", {"traits", trait}) +
            " AS INTEGER))",
        "integer",
        std::string(column) == "num_splits" ? "split-KV partitions (NULL: not a tiled kernel)"
                                            : std::string("tile ") + column + " (NULL: not a tiled kernel)");
  add("p_cast", extract("config", {"traits", "p_cast"}), "text", "how P is cast before PV (precise: split_hi_lo)");
  // ---- metrics -----------------------------------------------------------------------------
  const std::vector<std::pair<std::string, std::string>> error_metrics = {
      {"max_abs", "max |O - truth| (max_diff)"},
      {"mean_abs", "mean |O - truth|"},
      {"rmse", "root mean square error"},
      {"rel_fro", "||O - truth||_F / ||truth||_F"},
      {"ulp_max", "max error in ULPs of each element's truth (element ULPs)"},
      {"ulp_p99", "99th percentile of the element ULPs"},
      {"row_ulp_max", "max error in ULPs of its row's scale (the largest truth of the D elements)"},
      {"nan_count", "NaN outputs where the truth is finite"},
      {"inf_count", "Inf outputs"}};
  const std::vector<std::pair<std::string, std::string>> whose = {
      {"kernel", "the kernel's output"},
      {"floor", "the rounding floor: round(truth) vs truth, a perfect kernel's error"},
      {"baseline", "the same-precision naive baseline"}};
  for (const auto& [who, who_meaning] : whose)
    for (const auto& [metric, meaning] : error_metrics)
      add(who + "_" + metric, extract("metrics", {who, metric}),
          metric == "nan_count" || metric == "inf_count" ? "integer" : "real", meaning + " — " + who_meaning);
  add("kernel_count", extract("metrics", {"kernel", "count"}), "integer", "output elements compared");
  for (int bin = 0; bin < kUlpHistogramBins; ++bin) {
    const double lo = kUlpHistogramEdges[static_cast<size_t>(bin)];
    const double hi = kUlpHistogramEdges[static_cast<size_t>(bin) + 1];
    const std::string name = std::isinf(hi) ? "kernel_ulp_ge_" + edge_text(lo)
                                            : "kernel_ulp_" + edge_text(lo) + "_" + edge_text(hi);
    const std::string range = std::isinf(hi) ? "[" + edge_text(lo) + ", inf), NaN/Inf included"
                                             : "[" + edge_text(lo) + ", " + edge_text(hi) + ")";
    add(name, "json_extract(metrics, '$.\"kernel\".\"ulp_histogram\"[" + std::to_string(bin) + "]')", "integer",
        "elements with an error of " + range + " element ULPs (ULP histogram bin " + std::to_string(bin) + ")");
  }
  add("excess", extract("metrics", {"excess"}), "real",
      "kernel_rmse / floor_rmse: 1 is a perfect kernel (NULL: infinite, the floor is 0 and the kernel is not)");
  add("fa_rule_bound", extract("metrics", {"fa_rule_bound"}), "real", "FlashAttention rule bound: 2 x baseline_max_abs + 1e-5");
  add("fa_rule_ratio", extract("metrics", {"fa_rule_ratio"}), "real",
      "kernel_max_abs / fa_rule_bound: the rule holds at <= 1 (NULL: infinite)");
  add("fa_rule_pass", extract("metrics", {"fa_rule_pass"}), "boolean", "1 when the FlashAttention rule holds");
  add("out_dtype", extract("metrics", {"out_dtype"}), "text", "output dtype");
  add("truth_method", extract("metrics", {"truth_method"}), "text", "how the truth was computed (certified MPFR/MPFI, ...)");
  add("truth_fp64_gap_ulps", extract("metrics", {"truth_fp64_gap_ulps"}), "real", "certified gap of the FP64 truth, in ULPs");
  add("truth_device", extract("metrics", {"truth_device"}), "text", "where the truth ran (cpu, gpu)");
  add("truth_seconds", extract("metrics", {"truth_seconds"}), "real", "the truth's run time for this point's input (s)");
  add("baseline_implementation", extract("metrics", {"baseline_implementation"}), "text",
      "which implementation computed the same-precision baseline");
  add("fully_masked_rows", extract("metrics", {"fully_masked_rows"}), "integer", "query rows with no visible key (output 0)");
  // ---- attribution (Shapley shares of the error in RMSE^2; NULL when not attributed) -------
  std::set<std::string> categories_seen;
  std::vector<std::string> categories;
  for (int s = 0; s < kNumStages; ++s)
    if (categories_seen.insert(stage_category(static_cast<Stage>(s))).second)
      categories.push_back(stage_category(static_cast<Stage>(s)));
  categories.push_back("semantic");
  for (const std::string& category : categories)
    add("share_" + identifier(category), extract("attribution", {"categories", category, "rmse2_share"}), "real",
        "Shapley share of the error (RMSE^2) of the category '" + category + "' (categories sum to 1)");
  for (int s = 0; s < kNumStages; ++s) {
    const std::string stage = stage_name(static_cast<Stage>(s));
    add("share_stage_" + stage, extract("attribution", {"stages", stage, "rmse2_share"}), "real",
        "Shapley share of the error (RMSE^2) of the stage " + stage + " (stages + semantic sum to 1)");
  }
  add("dominant_category", extract("attribution", {"dominant"}), "text", "the category with the largest share");
  add("emulated_mse", extract("attribution", {"emulated_mse"}), "real", "MSE of the emulated algorithm the shares divide");
  // ---- provenance --------------------------------------------------------------------------
  for (const char* field : {"commit", "host", "gpu", "time_utc", "compiler", "numerics_flags"})
    add(field, extract("provenance", {field}), "text", std::string("provenance: ") + field);
  add("point_seconds", extract("provenance", {"point_seconds"}), "real", "the kernel's run time for this point (s)");
  return c;
}

void append_csv_field(std::string& out, const SqlValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return;
  if (const auto* i = std::get_if<int64_t>(&value)) {
    out += std::to_string(*i);
    return;
  }
  if (const auto* d = std::get_if<double>(&value)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", *d);  // round-trips
    out += buf;
    return;
  }
  const std::string& s = std::get<std::string>(value);
  if (s.find_first_of(",\"\r\n") == std::string::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  out += '"';
}

nlohmann::ordered_json to_json(const SqlValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  return nullptr;
}

}  // namespace

const std::vector<FlatColumn>& results_flat_columns() {
  static const std::vector<FlatColumn> columns = make_columns();
  return columns;
}

std::string results_flat_select() {
  std::string sql = "SELECT ";
  bool first = true;
  for (const FlatColumn& c : results_flat_columns()) {
    sql += (first ? "" : ", ") + c.sql + " AS \"" + c.name + "\"";  // quoted: `commit` is an SQL keyword
    first = false;
  }
  return sql + " FROM results";
}

std::string results_flat_view_sql() {
  return "DROP VIEW IF EXISTS results_flat; CREATE VIEW results_flat AS " + results_flat_select() + ";";
}

std::string results_flat_markdown() {
  std::string md = "| column | type | meaning |\n|---|---|---|\n";
  for (const FlatColumn& c : results_flat_columns()) {
    std::string meaning;
    for (char ch : c.meaning) meaning += ch == '|' ? std::string("\\|") : std::string(1, ch);  // a table cell
    md += "| `" + c.name + "` | " + c.type + " | " + meaning + " |\n";
  }
  return md;
}

std::string export_results(const ResultsDb& db, ExportFormat format, const std::optional<std::string>& sweep) {
  const std::string sql = results_flat_select() + (sweep ? " WHERE sweep = ?1 ORDER BY id" : " ORDER BY id");
  std::string out;
  if (format == ExportFormat::csv) {
    bool header = false;
    const auto write_header = [&](const std::vector<std::string>& columns) {
      for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + columns[i];
      out += "\r\n";
      header = true;
    };
    db.select(sql, sweep ? std::vector<std::string>{*sweep} : std::vector<std::string>{},
              [&](const std::vector<std::string>& columns, const std::vector<SqlValue>& row) {
                if (!header) write_header(columns);
                for (size_t i = 0; i < row.size(); ++i) {
                  if (i) out += ',';
                  append_csv_field(out, row[i]);
                }
                out += "\r\n";
              });
    if (!header) {  // no rows: the header alone
      std::vector<std::string> names;
      for (const FlatColumn& c : results_flat_columns()) names.push_back(c.name);
      write_header(names);
    }
    return out;
  }
  out = "[";
  bool first = true;
  db.select(sql, sweep ? std::vector<std::string>{*sweep} : std::vector<std::string>{},
            [&](const std::vector<std::string>& columns, const std::vector<SqlValue>& row) {
              nlohmann::ordered_json object = nlohmann::ordered_json::object();
              for (size_t i = 0; i < row.size(); ++i) object[columns[i]] = to_json(row[i]);
              out += (first ? "\n" : ",\n") + object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
              first = false;
            });
  return out + (first ? "]\n" : "\n]\n");
}

}  // namespace attn
