#include "experiments/results_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>

#include "core/errors.h"
#include "core/io_files.h"
#include "experiments/results_flat.h"

namespace attn {
namespace {

constexpr int kSchemaVersion = 1;
constexpr char kSqliteMagic[] = "SQLite format 3";  // the first 16 bytes of every SQLite 3 file (with its NUL)

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw Error(std::string("results db: cannot prepare '") + sql + "': " + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt); }
  void bind(int i, const std::string& s) { sqlite3_bind_text(stmt, i, s.c_str(), -1, SQLITE_TRANSIENT); }
  std::string text(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
};

nlohmann::json parse_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false);
}

/// The first 20 bytes of an existing file (fewer when it is shorter), read without blocking.
std::string file_header(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[20];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

/// An SQLite URI for a path (percent-encoding what a URI path may not hold).
std::string sqlite_uri(const std::string& path, const std::string& query) {
  const std::string abs = std::filesystem::absolute(path).string();
  std::string uri = "file:";
  for (unsigned char c : abs) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      uri += buf;
    }
  }
  return uri + "?" + query;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

ResultsDb::ResultsDb(const std::string& path, DbMode mode) : path_(path), mode_(mode) {
  const std::string shown = "'" + printable_path(path) + "'";
  const bool exists = file_exists(path);
  if (exists || mode == DbMode::read_only) require_regular_file(path, "results database");
  const std::string header = exists ? file_header(path) : "";
  if (!header.empty() && header.compare(0, sizeof kSqliteMagic, std::string(kSqliteMagic, sizeof kSqliteMagic)) != 0)
    throw FileFormatError("results database " + shown + " is not an SQLite database (it is left untouched)");

  int rc;
  if (mode == DbMode::read_only) {
    // A WAL database with no -wal file has no writer; opened "immutable" SQLite creates no -shm /
    // -wal side files (a plain read-only open would, and leave them behind).
    const bool wal = header.size() >= 20 && header[18] == 2 && header[19] == 2;
    const bool immutable = wal && !file_exists(path + "-wal");
    rc = sqlite3_open_v2(sqlite_uri(path, immutable ? "mode=ro&immutable=1" : "mode=ro").c_str(), &db_,
                         SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  } else {
    rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  }
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    if (mode == DbMode::read_only) throw FileFormatError("cannot open results database " + shown + ": " + why);
    throw EnvironmentError("cannot open results database " + shown + " for writing: " + why);
  }
  sqlite3_busy_timeout(db_, 10000);  // shards writing to one file wait instead of failing
  try {
    auto table_exists = [&](const char* name) {
      Statement s(db_, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?");
      s.bind(1, name);
      if (sqlite3_step(s.stmt) != SQLITE_ROW) throw Error(sqlite3_errmsg(db_));
      return sqlite3_column_int(s.stmt, 0) > 0;
    };
    int tables = 0;
    {
      Statement s(db_, "SELECT count(*) FROM sqlite_master");
      if (sqlite3_step(s.stmt) != SQLITE_ROW) throw Error(sqlite3_errmsg(db_));
      tables = sqlite3_column_int(s.stmt, 0);
    }
    const bool ours = table_exists("results") && table_exists("attnscope_meta");
    if (!ours && (tables > 0 || mode == DbMode::read_only))
      throw FileFormatError(tables > 0 ? "it is an SQLite database of something else (no attnscope results table)"
                                       : "it holds no results (an empty database)");
    if (ours) {  // corruption is found before anything is written
      Statement check(db_, "PRAGMA quick_check");
      const int step = sqlite3_step(check.stmt);
      if (step != SQLITE_ROW) throw FileFormatError(std::string("integrity check failed: ") + sqlite3_errmsg(db_));
      if (check.text(0) != "ok") throw FileFormatError("it is corrupted (SQLite quick_check: " + check.text(0) + ")");
    }
    // A new database gets its tables now; an existing one is not touched until the first write
    // (a sweep that refuses to resume leaves it byte for byte).
    if (mode == DbMode::read_write && !ours) prepare_for_writes();
    has_record_table_ = table_exists("sweep_records");
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw FileFormatError("results database " + shown + " is not usable: " + e.what());
  }
  Statement get(db_, "SELECT value FROM attnscope_meta WHERE key='schema_version'");
  if (sqlite3_step(get.stmt) == SQLITE_ROW) {
    if (get.text(0) != std::to_string(kSchemaVersion)) {
      const std::string version = get.text(0);
      sqlite3_finalize(get.stmt);
      get.stmt = nullptr;
      sqlite3_close(db_);
      db_ = nullptr;
      throw FileFormatError("results database " + shown + " has schema version " + version +
                            ", this attnscope reads version " + std::to_string(kSchemaVersion));
    }
  }
}

void ResultsDb::prepare_for_writes() {
  if (prepared_) return;
  require_writable("write");
  // WAL: readers (reports) never block the sweep writing; every insert is durable on commit.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(
      "CREATE TABLE IF NOT EXISTS attnscope_meta (key TEXT PRIMARY KEY, value TEXT);"
      "CREATE TABLE IF NOT EXISTS results ("
      "  id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, point_key TEXT NOT NULL,"
      "  kernel TEXT NOT NULL, status TEXT NOT NULL, message TEXT, config TEXT, metrics TEXT,"
      "  attribution TEXT, provenance TEXT, created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
      "  UNIQUE(sweep, point_key));"
      "CREATE TABLE IF NOT EXISTS sweep_records (name TEXT PRIMARY KEY, spec_hash TEXT NOT NULL,"
      "  commit_id TEXT NOT NULL, spec TEXT, points INTEGER, stale_commits TEXT);"
      "INSERT OR IGNORE INTO attnscope_meta VALUES ('schema_version', '" + std::to_string(kSchemaVersion) + "');");
  // The flat view (results_flat.h), recreated so that a database written by an older build gets
  // this build's columns; it holds no data, so the schema version does not change.
  exec(results_flat_view_sql());
  has_record_table_ = true;
  prepared_ = true;
}

ResultsDb::~ResultsDb() {
  if (db_ && prepared_) {
    // Back to a rollback journal when this was the last writer: a finished database is then one
    // file, and read-only openers need no side files. Busy (another shard writing): stay in WAL.
    sqlite3_busy_timeout(db_, 0);
    sqlite3_exec(db_, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  sqlite3_close(db_);
}

void ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "unknown";
    sqlite3_free(err);
    throw Error("results database '" + printable_path(path_) + "': " + why);
  }
}

void ResultsDb::require_writable(const char* what) const {
  if (mode_ == DbMode::read_only)
    throw Error(std::string("results database '") + printable_path(path_) + "' is open read-only: cannot " + what);
}

void ResultsDb::insert(const ResultRow& row) {
  require_writable("insert");
  prepare_for_writes();
  Statement s(db_,
              "INSERT OR REPLACE INTO results (sweep, point_key, kernel, status, message, config, metrics,"
              " attribution, provenance) VALUES (?,?,?,?,?,?,?,?,?)");
  const auto dump = [](const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); };
  s.bind(1, row.sweep);
  s.bind(2, row.point_key);
  s.bind(3, row.kernel);
  s.bind(4, row.status);
  s.bind(5, row.message);
  s.bind(6, dump(row.config));
  s.bind(7, dump(row.metrics));
  s.bind(8, dump(row.attribution));
  s.bind(9, dump(row.provenance));
  if (sqlite3_step(s.stmt) != SQLITE_DONE)
    throw EnvironmentError("results database '" + printable_path(path_) + "': insert failed: " + sqlite3_errmsg(db_));
}

std::set<std::string> ResultsDb::done_points(const std::string& sweep) const {
  Statement s(db_, "SELECT point_key FROM results WHERE sweep = ?");
  s.bind(1, sweep);
  std::set<std::string> keys;
  while (sqlite3_step(s.stmt) == SQLITE_ROW) keys.insert(s.text(0));
  return keys;
}

std::vector<ResultRow> ResultsDb::rows(const std::optional<std::string>& sweep) const {
  Statement s(db_, sweep ? "SELECT sweep, point_key, kernel, status, message, config, metrics, attribution, provenance"
                           " FROM results WHERE sweep = ? ORDER BY id"
                         : "SELECT sweep, point_key, kernel, status, message, config, metrics, attribution, provenance"
                           " FROM results ORDER BY id");
  if (sweep) s.bind(1, *sweep);
  std::vector<ResultRow> out;
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), parse_or_null(s.text(5)),
                   parse_or_null(s.text(6)), parse_or_null(s.text(7)), parse_or_null(s.text(8))});
  }
  if (rc != SQLITE_DONE)
    throw FileFormatError("results database '" + printable_path(path_) + "': reading rows failed: " + sqlite3_errmsg(db_));
  return out;
}

std::vector<std::string> ResultsDb::sweeps() const {
  Statement s(db_, has_record_table_ ? "SELECT sweep FROM results UNION SELECT name FROM sweep_records ORDER BY 1"
                                     : "SELECT DISTINCT sweep FROM results ORDER BY sweep");
  std::vector<std::string> out;
  while (sqlite3_step(s.stmt) == SQLITE_ROW) out.push_back(s.text(0));
  return out;
}

std::optional<SweepRecord> ResultsDb::sweep_record(const std::string& sweep) const {
  if (!has_record_table_) return std::nullopt;
  Statement s(db_, "SELECT name, spec_hash, commit_id, spec, points, stale_commits FROM sweep_records WHERE name = ?");
  s.bind(1, sweep);
  if (sqlite3_step(s.stmt) != SQLITE_ROW) return std::nullopt;
  SweepRecord r;
  r.name = s.text(0);
  r.spec_hash = s.text(1);
  r.commit = s.text(2);
  r.spec = parse_or_null(s.text(3));
  r.points = sqlite3_column_int(s.stmt, 4);
  const nlohmann::json stale = parse_or_null(s.text(5));
  if (stale.is_array())
    for (const auto& c : stale)
      if (c.is_string()) r.stale_commits.push_back(c.get<std::string>());
  return r;
}

void ResultsDb::write_sweep_record(const SweepRecord& r) {
  require_writable("record a sweep");
  prepare_for_writes();
  Statement s(db_, "INSERT OR REPLACE INTO sweep_records (name, spec_hash, commit_id, spec, points, stale_commits)"
                   " VALUES (?,?,?,?,?,?)");
  s.bind(1, r.name);
  s.bind(2, r.spec_hash);
  s.bind(3, r.commit);
  s.bind(4, r.spec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  sqlite3_bind_int(s.stmt, 5, r.points);
  s.bind(6, nlohmann::json(r.stale_commits).dump());
  if (sqlite3_step(s.stmt) != SQLITE_DONE)
    throw EnvironmentError("results database '" + printable_path(path_) + "': cannot record sweep '" + r.name +
                           "': " + sqlite3_errmsg(db_));
}

void ResultsDb::delete_sweep(const std::string& sweep) {
  require_writable("delete a sweep");
  prepare_for_writes();
  exec("BEGIN IMMEDIATE");
  try {
    for (const char* sql : {"DELETE FROM results WHERE sweep = ?", "DELETE FROM sweep_records WHERE name = ?"}) {
      Statement s(db_, sql);
      s.bind(1, sweep);
      if (sqlite3_step(s.stmt) != SQLITE_DONE) throw EnvironmentError(std::string("delete failed: ") + sqlite3_errmsg(db_));
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void ResultsDb::select(
    const std::string& sql, const std::vector<std::string>& params,
    const std::function<void(const std::vector<std::string>&, const std::vector<SqlValue>&)>& on_row) const {
  Statement s(db_, sql);
  if (!sqlite3_stmt_readonly(s.stmt)) throw Error("results database: refusing a statement that writes: " + sql);
  for (size_t i = 0; i < params.size(); ++i) s.bind(static_cast<int>(i) + 1, params[i]);
  const int n = sqlite3_column_count(s.stmt);
  std::vector<std::string> columns;
  for (int i = 0; i < n; ++i) columns.emplace_back(sqlite3_column_name(s.stmt, i));
  std::vector<SqlValue> row(static_cast<size_t>(n));
  int rc;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    for (int i = 0; i < n; ++i) {
      switch (sqlite3_column_type(s.stmt, i)) {
        case SQLITE_NULL: row[static_cast<size_t>(i)] = std::monostate{}; break;
        case SQLITE_INTEGER: row[static_cast<size_t>(i)] = static_cast<int64_t>(sqlite3_column_int64(s.stmt, i)); break;
        case SQLITE_FLOAT: row[static_cast<size_t>(i)] = sqlite3_column_double(s.stmt, i); break;
        default: row[static_cast<size_t>(i)] = s.text(i); break;
      }
    }
    on_row(columns, row);
  }
  if (rc != SQLITE_DONE)
    throw FileFormatError("results database '" + printable_path(path_) + "': query failed: " + sqlite3_errmsg(db_));
}

int ResultsDb::merge_from(const ResultsDb& shard, bool allow_mixed_commits) {
  require_writable("merge");
  const std::string shard_name = "shard '" + printable_path(shard.path()) + "'";
  // Every check before the first write: a refused shard leaves this database as it was.
  std::vector<SweepRecord> new_records;
  for (const std::string& sweep : shard.sweeps()) {
    const std::optional<SweepRecord> theirs = shard.sweep_record(sweep);
    if (!theirs)
      throw FileFormatError(shard_name + " has no spec record of sweep '" + sweep +
                            "' (written by an older attnscope): cannot tell whether it is the same spec; re-run it");
    const std::optional<SweepRecord> ours = sweep_record(sweep);
    if (!ours) {
      new_records.push_back(*theirs);
      continue;
    }
    if (ours->spec_hash != theirs->spec_hash)
      throw FileFormatError(shard_name + " holds sweep '" + sweep + "' of another spec (hash " + theirs->spec_hash +
                            ", this database: " + ours->spec_hash + "): shards of different specs are never merged");
    if (ours->commit != theirs->commit && !allow_mixed_commits)
      throw FileFormatError(shard_name + " holds sweep '" + sweep + "' built from commit " + theirs->commit +
                            ", this database from " + ours->commit + " (pass --allow-mixed-commits to merge anyway)");
    if (ours->commit != theirs->commit) {
      SweepRecord mixed = *ours;
      if (std::find(mixed.stale_commits.begin(), mixed.stale_commits.end(), theirs->commit) == mixed.stale_commits.end())
        mixed.stale_commits.push_back(theirs->commit);
      new_records.push_back(mixed);
    }
  }
  const std::vector<ResultRow> rows = shard.rows();
  prepare_for_writes();
  exec("BEGIN IMMEDIATE");
  try {
    for (const SweepRecord& r : new_records) write_sweep_record(r);
    const int records = sqlite3_total_changes(db_);
    Statement s(db_,
                "INSERT OR IGNORE INTO results (sweep, point_key, kernel, status, message, config, metrics,"
                " attribution, provenance) VALUES (?,?,?,?,?,?,?,?,?)");
    for (const ResultRow& row : rows) {
      sqlite3_reset(s.stmt);
      s.bind(1, row.sweep);
      s.bind(2, row.point_key);
      s.bind(3, row.kernel);
      s.bind(4, row.status);
      s.bind(5, row.message);
      s.bind(6, row.config.dump());
      s.bind(7, row.metrics.dump());
      s.bind(8, row.attribution.dump());
      s.bind(9, row.provenance.dump());
      if (sqlite3_step(s.stmt) != SQLITE_DONE)
        throw EnvironmentError("results database '" + printable_path(path_) + "': merge failed: " + sqlite3_errmsg(db_));
    }
    const int added = sqlite3_total_changes(db_) - records;
    exec("COMMIT");
    return added;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace attn
