// results_flat: the view and the CSV/JSON export carry every configuration field and metric of a
// row, with the values stored in its JSON (nested keys, keys with spaces, the ULP histogram's
// bins, tiles stored as traits strings), NULL for what a row lacks; CSV quoting is RFC 4180;
// the view in a written database gives the same rows as the export; a read-only export writes
// nothing; select() refuses a statement that writes.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "core/errors.h"
#include "experiments/results_db.h"
#include "experiments/results_flat.h"

namespace {

std::string temp_db(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_flat_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  std::filesystem::remove(p);
  return p.string();
}

nlohmann::json error_metrics(double max_abs, double rmse) {
  return {{"max_abs", max_abs}, {"mean_abs", rmse / 2}, {"rmse", rmse}, {"rel_fro", 1e-4}, {"ulp_max", 3.0},
          {"ulp_p99", 1.0}, {"ulp_histogram", {100, 50, 25, 12, 6, 3, 2, 1, 7}}, {"nan_count", 0},
          {"inf_count", 0}, {"count", 206}};
}

attn::ResultRow full_row() {
  attn::ResultRow r;
  r.sweep = "flat";
  r.point_key = "k1";
  r.kernel = "emu.fp16.dany.m64n64";
  r.status = "ok";
  r.config = {{"kernel", r.kernel}, {"family", "emulator"}, {"planted_bug", ""},
              {"traits", {{"block_m", "64"}, {"block_n", "32"}, {"num_splits", "4"}, {"p_cast", "input_dtype"}}},
              {"batch", 2}, {"seqlen_q", 65}, {"seqlen_k", 365}, {"cache_depth", 300}, {"num_heads_q", 8},
              {"num_heads_kv", 2}, {"gqa_ratio", 4}, {"head_dim", 64}, {"dtype", "fp16"}, {"mask", "causal"},
              {"scale", 0.125}, {"distribution", "normal"}, {"seed", 3}, {"label", "B2 S65/365"}};
  r.metrics = {{"kernel", error_metrics(4.8828125e-4, 1.25e-4)}, {"floor", error_metrics(2.44140625e-4, 1e-4)},
               {"baseline", error_metrics(9.765625e-4, 2e-4)}, {"excess", 1.25}, {"fa_rule_bound", 0.00196312},
               {"fa_rule_ratio", 0.2487}, {"fa_rule_pass", true}, {"out_dtype", "fp16"},
               {"truth_method", "mpfr"}, {"truth_fp64_gap_ulps", 1e-9}, {"fully_masked_rows", 0}};
  r.attribution = {{"categories",
                    {{"accumulation order", {{"rmse2_share", 0.25}}},
                     {"intermediate precision", {{"rmse2_share", 0.125}}},
                     {"rescaling", {{"rmse2_share", 0.0}}},
                     {"output rounding", {{"rmse2_share", 0.625}}},
                     {"semantic", {{"rmse2_share", 0.0}}}}},
                   {"stages", {{"p_cast", {{"rmse2_share", 0.125}}}, {"output_round", {{"rmse2_share", 0.5}}}}},
                   {"dominant", "output rounding"},
                   {"emulated_mse", 1.5e-8}};
  r.provenance = {{"commit", "abc123"}, {"host", "h"}, {"gpu", "none"}, {"point_seconds", 0.5}};
  return r;
}

/// The one row of a CSV export (header + one line, no quoted line breaks) as column -> text.
std::map<std::string, std::string> csv_one_row(const std::string& csv) {
  std::istringstream in(csv);
  std::string header, line;
  std::getline(in, header);
  std::getline(in, line);
  auto split = [](std::string s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
      if (c == ',') {
        out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    out.push_back(cur);
    return out;
  };
  const auto names = split(header), values = split(line);
  REQUIRE(names.size() == values.size());
  std::map<std::string, std::string> m;
  for (size_t i = 0; i < names.size(); ++i) m[names[i]] = values[i];
  return m;
}

}  // namespace

TEST_CASE("results_flat: every column of a full row carries the stored value", "[results_flat]") {
  const std::string path = temp_db("full.sqlite");
  { attn::ResultsDb(path).insert(full_row()); }
  const attn::ResultsDb db(path, attn::DbMode::read_only);
  const nlohmann::json rows = nlohmann::json::parse(attn::export_results(db, attn::ExportFormat::json, std::nullopt));
  REQUIRE(rows.size() == 1);
  const nlohmann::json& r = rows[0];
  REQUIRE(r.size() == attn::results_flat_columns().size());
  CHECK(r["kernel"] == "emu.fp16.dany.m64n64");
  CHECK(r["seqlen_q"] == 65);
  CHECK(r["cache_depth"] == 300);
  CHECK(r["gqa_ratio"] == 4);
  CHECK(r["block_m"] == 64);  // traits strings become integers
  CHECK(r["block_n"] == 32);
  CHECK(r["num_splits"] == 4);
  CHECK(r["kernel_max_abs"].get<double>() == 4.8828125e-4);
  CHECK(r["floor_max_abs"].get<double>() == 2.44140625e-4);
  CHECK(r["baseline_rmse"].get<double>() == 2e-4);
  CHECK(r["excess"].get<double>() == 1.25);
  CHECK(r["fa_rule_pass"] == 1);
  // The ULP histogram: one column per bin, named by its edges, in bin order.
  const std::vector<int> bins = {100, 50, 25, 12, 6, 3, 2, 1, 7};
  const std::vector<std::string> names = {"kernel_ulp_0_0p5", "kernel_ulp_0p5_1", "kernel_ulp_1_2",
                                          "kernel_ulp_2_4",   "kernel_ulp_4_8",   "kernel_ulp_8_16",
                                          "kernel_ulp_16_32", "kernel_ulp_32_64", "kernel_ulp_ge_64"};
  REQUIRE(static_cast<int>(names.size()) == attn::kUlpHistogramBins);
  for (size_t i = 0; i < names.size(); ++i) CHECK(r[names[i]] == bins[i]);
  // Attribution categories (keys with spaces) and stages; the categories sum to 1.
  CHECK(r["share_accumulation_order"].get<double>() == 0.25);
  CHECK(r["share_output_rounding"].get<double>() == 0.625);
  const double sum = r["share_accumulation_order"].get<double>() + r["share_intermediate_precision"].get<double>() +
                     r["share_rescaling"].get<double>() + r["share_output_rounding"].get<double>() +
                     r["share_semantic"].get<double>();
  CHECK(sum == 1.0);
  CHECK(r["share_stage_p_cast"].get<double>() == 0.125);
  CHECK(r["share_stage_exp"].is_null());  // not in this row: NULL, never 0
  CHECK(r["dominant_category"] == "output rounding");
  CHECK(r["commit"] == "abc123");
  CHECK(r["point_seconds"].get<double>() == 0.5);
  CHECK(r["mutant"].is_null());
}

TEST_CASE("results_flat: the view in the database equals the export; CSV quotes and NULLs", "[results_flat]") {
  const std::string path = temp_db("view.sqlite");
  {
    attn::ResultsDb db(path);
    db.insert(full_row());
    attn::ResultRow invalid{"flat", "k2", "fa2.fp16.d64.m64n64", "invalid", "needs a GPU, \"fa2\"\nsecond line",
                            {{"seqlen_q", 7}}, nullptr, nullptr, {{"commit", "abc123"}}};
    db.insert(invalid);
    attn::ResultRow other = full_row();
    other.sweep = "other";
    db.insert(other);
  }
  const attn::ResultsDb db(path, attn::DbMode::read_only);
  // The view holds exactly the export's rows (same columns, same values).
  std::vector<std::string> view_columns;
  int view_rows = 0;
  db.select("SELECT * FROM results_flat WHERE sweep = 'flat'", {},
            [&](const std::vector<std::string>& columns, const std::vector<attn::SqlValue>& row) {
              view_columns = columns;
              const size_t k = static_cast<size_t>(
                  std::find(columns.begin(), columns.end(), "seqlen_k") - columns.begin());
              REQUIRE(k < row.size());
              if (view_rows == 0) CHECK(std::get<int64_t>(row[k]) == 365);
              ++view_rows;
            });
  CHECK(view_rows == 2);
  REQUIRE(view_columns.size() == attn::results_flat_columns().size());
  for (size_t i = 0; i < view_columns.size(); ++i) CHECK(view_columns[i] == attn::results_flat_columns()[i].name);

  const std::string csv = attn::export_results(db, attn::ExportFormat::csv, std::string("flat"));
  // A message with a comma, quotes and a line break is one quoted field; NULL is an empty field.
  CHECK_THAT(csv, Catch::Contains(",invalid,\"needs a GPU, \"\"fa2\"\"\nsecond line\","));
  CHECK_THAT(csv, !Catch::Contains("other"));  // --sweep filters
  const auto first = csv_one_row(csv);
  CHECK(first.at("seqlen_q") == "65");
  CHECK(first.at("kernel_max_abs") == "0.00048828125");
  CHECK(first.at("mutant").empty());
  // JSON of the invalid row: NULL metrics, the message verbatim.
  const nlohmann::json rows =
      nlohmann::json::parse(attn::export_results(db, attn::ExportFormat::json, std::string("flat")));
  REQUIRE(rows.size() == 2);
  CHECK(rows[1]["status"] == "invalid");
  CHECK(rows[1]["message"] == "needs a GPU, \"fa2\"\nsecond line");
  CHECK(rows[1]["kernel_max_abs"].is_null());
  CHECK(rows[1]["seqlen_q"] == 7);
  // An empty selection: the header alone / an empty array.
  CHECK(attn::export_results(db, attn::ExportFormat::json, std::string("none")) == "[]\n");
  CHECK_THAT(attn::export_results(db, attn::ExportFormat::csv, std::string("none")),
             Catch::StartsWith("sweep,point_key,kernel,status,"));
}

TEST_CASE("results_flat: select() refuses a writing statement; a read-only export writes nothing", "[results_flat]") {
  const std::string path = temp_db("ro.sqlite");
  { attn::ResultsDb(path).insert(full_row()); }
  std::ifstream f0(path, std::ios::binary);
  const std::string before((std::istreambuf_iterator<char>(f0)), std::istreambuf_iterator<char>());
  {
    const attn::ResultsDb db(path, attn::DbMode::read_only);
    CHECK_THROWS_AS(db.select("DELETE FROM results", {}, [](const auto&, const auto&) {}), attn::Error);
    (void)attn::export_results(db, attn::ExportFormat::csv, std::nullopt);
  }
  std::ifstream f1(path, std::ios::binary);
  const std::string after((std::istreambuf_iterator<char>(f1)), std::istreambuf_iterator<char>());
  CHECK(before == after);
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  CHECK_FALSE(std::filesystem::exists(path + "-shm"));
}

TEST_CASE("results_flat: the schema table documents every column", "[results_flat]") {
  const std::string md = attn::results_flat_markdown();
  for (const attn::FlatColumn& c : attn::results_flat_columns()) {
    CHECK_THAT(md, Catch::Contains("| `" + c.name + "` | " + c.type));
    CHECK_FALSE(c.meaning.empty());
  }
  // The README's copy is this table (regenerate with `attnscope export --schema`).
  std::ifstream readme(std::string(ATTNSCOPE_SOURCE_DIR) + "/README.md");
  const std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  CHECK_THAT(text, Catch::Contains(md));
}
