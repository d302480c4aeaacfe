// results_db.h: the SQLite results database. One row per (sweep, point): the full configuration,
// every metric, the attribution and the provenance, each as JSON, plus the status (ok | invalid |
// error) and its message. Every row is committed on its own, so a killed sweep loses nothing
// already written, and a resumed sweep skips the points already present. Shards of one sweep
// merge into one database (INSERT OR IGNORE on the point key).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace attn {

/// One stored result.
struct ResultRow {
  std::string sweep;       ///< sweep name
  std::string point_key;   ///< stable key of the point within its sweep (kernel + problem + inputs)
  std::string kernel;
  std::string status;      ///< "ok" | "invalid" (kernel cannot run this problem) | "error"
  std::string message;     ///< reason for invalid/error; empty when ok
  nlohmann::json config;   ///< problem, input spec, kernel traits
  nlohmann::json metrics;  ///< kernel/floor/baseline metrics, excess, FA rule
  nlohmann::json attribution;  ///< per-stage/category shares (null when not computed)
  nlohmann::json provenance;   ///< commit, host, GPU, driver, CUDA, time, seed
};

class ResultsDb {
 public:
  /// Opens (creating if needed) the database; throws attn::Error naming the file and SQLite's reason,
  /// or FileFormatError if the file exists but is not an attnscope results database.
  explicit ResultsDb(const std::string& path);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  /// Inserts one row in its own transaction; a row with the same (sweep, point_key) is replaced.
  void insert(const ResultRow& row);
  /// Point keys of a sweep already stored with a final status (for resuming).
  std::set<std::string> done_points(const std::string& sweep) const;
  /// All rows, optionally of one sweep, in insertion order.
  std::vector<ResultRow> rows(const std::optional<std::string>& sweep = std::nullopt) const;
  std::vector<std::string> sweeps() const;
  /// Copies every row of `other_path` that this database lacks (shards of one sweep -> one db).
  /// Returns the number of rows added.
  int merge_from(const std::string& other_path);

  const std::string& path() const { return path_; }

 private:
  void exec(const std::string& sql) const;
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace attn
