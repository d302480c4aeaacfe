// results_db.h: the SQLite results database. One row per (sweep, point): the full configuration,
// every metric, the attribution and the provenance, each as JSON, plus the status (ok | invalid |
// error) and its message. Every row is committed on its own, so a killed sweep loses nothing
// already written, and a resumed sweep skips the points already present. Each sweep also has a
// record of what made it: the hash of its expanded spec and the build's commit, so that a resume
// or a merge never mixes rows of different specs or builds unknowingly.
//
// Opening: read-write (sweep, merge output) creates a missing file, refuses a special file, a
// foreign SQLite database and a corrupted one (quick_check) before writing anything; read-only
// (gate, report, merge inputs) never creates or modifies a file, not even SQLite's side files.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <variant>
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

/// What made a sweep's rows: recorded when the sweep first writes, checked on resume and merge.
struct SweepRecord {
  std::string name;
  std::string spec_hash;      ///< hash of the expanded spec (every point key and the row-changing settings)
  std::string commit;         ///< the build's commit (with "-modified" for a dirty tree)
  nlohmann::json spec;        ///< the expanded spec itself (for the reader; the hash covers it)
  int points = 0;             ///< points of the whole spec (all shards)
  std::vector<std::string> stale_commits;  ///< other commits mixed in explicitly (--resume-stale)
};

/// One value of a query's result: NULL, integer, real or text.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

enum class DbMode {
  read_write,  ///< create if missing; refuse special, foreign and corrupted files
  read_only,   ///< the file must exist; nothing is ever written
};

class ResultsDb {
 public:
  /// Throws FileFormatError (not a results database, corrupted, a special file, missing when
  /// read-only) or EnvironmentError (cannot be opened for writing), naming the file.
  explicit ResultsDb(const std::string& path, DbMode mode = DbMode::read_write);
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  /// Inserts one row in its own transaction; a row with the same (sweep, point_key) is replaced.
  void insert(const ResultRow& row);
  /// Point keys of a sweep already stored with a final status (for resuming).
  std::set<std::string> done_points(const std::string& sweep) const;
  /// All rows, optionally of one sweep, in insertion order.
  std::vector<ResultRow> rows(const std::optional<std::string>& sweep = std::nullopt) const;
  /// Names of the sweeps with rows or a record.
  std::vector<std::string> sweeps() const;

  std::optional<SweepRecord> sweep_record(const std::string& sweep) const;
  void write_sweep_record(const SweepRecord& record);
  /// Removes a sweep's rows and record (`sweep --fresh`).
  void delete_sweep(const std::string& sweep);

  /// Runs one read-only SELECT (anything else is refused: attn::Error) with text parameters bound
  /// to ?1, ?2, ..., calling `on_row` with the column names and the values of each result row.
  void select(const std::string& sql, const std::vector<std::string>& params,
              const std::function<void(const std::vector<std::string>& columns, const std::vector<SqlValue>& row)>&
                  on_row) const;

  /// Copies every row of `shard` that this database lacks (shards of one sweep -> one database).
  /// Refuses (FileFormatError, nothing written) a shard whose sweep record has another spec hash
  /// or commit than this database's record of the same sweep (`allow_mixed_commits` accepts
  /// another commit), or that has no record. Returns the number of rows added.
  int merge_from(const ResultsDb& shard, bool allow_mixed_commits = false);

  const std::string& path() const { return path_; }
  bool read_only() const { return mode_ == DbMode::read_only; }

 private:
  void exec(const std::string& sql) const;
  void require_writable(const char* what) const;
  /// WAL mode and the tables, before the first write (never for a database only read).
  void prepare_for_writes();
  std::string path_;
  DbMode mode_;
  sqlite3* db_ = nullptr;
  bool has_record_table_ = false;
  bool prepared_ = false;
};

}  // namespace attn
