#include "experiments/results_db.h"

#include <sqlite3.h>

#include "core/errors.h"

namespace attn {
namespace {

constexpr int kSchemaVersion = 1;

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

}  // namespace

ResultsDb::ResultsDb(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error("cannot open results database '" + path + "': " + why);
  }
  sqlite3_busy_timeout(db_, 10000);  // shards writing to one file wait instead of failing
  try {
    // WAL: readers (reports) never block the sweep writing; every insert is durable on commit.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS attnscope_meta (key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE IF NOT EXISTS results ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT, sweep TEXT NOT NULL, point_key TEXT NOT NULL,"
        "  kernel TEXT NOT NULL, status TEXT NOT NULL, message TEXT, config TEXT, metrics TEXT,"
        "  attribution TEXT, provenance TEXT, created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
        "  UNIQUE(sweep, point_key));");
  } catch (const Error& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw FileFormatError("'" + path + "' is not a usable attnscope results database: " + e.what());
  }
  Statement get(db_, "SELECT value FROM attnscope_meta WHERE key='schema_version'");
  if (sqlite3_step(get.stmt) == SQLITE_ROW) {
    if (get.text(0) != std::to_string(kSchemaVersion))
      throw FileFormatError("results database '" + path + "' has schema version " + get.text(0) +
                            ", this attnscope reads version " + std::to_string(kSchemaVersion));
  } else {
    exec("INSERT OR IGNORE INTO attnscope_meta VALUES ('schema_version', '" + std::to_string(kSchemaVersion) + "')");
  }
}

ResultsDb::~ResultsDb() { sqlite3_close(db_); }

void ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "unknown";
    sqlite3_free(err);
    throw Error("results database '" + path_ + "': " + why);
  }
}

void ResultsDb::insert(const ResultRow& row) {
  Statement s(db_,
              "INSERT OR REPLACE INTO results (sweep, point_key, kernel, status, message, config, metrics,"
              " attribution, provenance) VALUES (?,?,?,?,?,?,?,?,?)");
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
    throw Error("results database '" + path_ + "': insert failed: " + sqlite3_errmsg(db_));
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
  while (sqlite3_step(s.stmt) == SQLITE_ROW) {
    out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), parse_or_null(s.text(5)),
                   parse_or_null(s.text(6)), parse_or_null(s.text(7)), parse_or_null(s.text(8))});
  }
  return out;
}

std::vector<std::string> ResultsDb::sweeps() const {
  Statement s(db_, "SELECT DISTINCT sweep FROM results ORDER BY sweep");
  std::vector<std::string> out;
  while (sqlite3_step(s.stmt) == SQLITE_ROW) out.push_back(s.text(0));
  return out;
}

int ResultsDb::merge_from(const std::string& other_path) {
  { ResultsDb check(other_path); }  // validates the shard's schema before touching this database
  const int before = sqlite3_total_changes(db_);
  Statement attach(db_, "ATTACH DATABASE ? AS shard");
  attach.bind(1, other_path);
  if (sqlite3_step(attach.stmt) != SQLITE_DONE)
    throw Error("cannot attach shard '" + other_path + "': " + sqlite3_errmsg(db_));
  try {
    exec(
        "INSERT OR IGNORE INTO results (sweep, point_key, kernel, status, message, config, metrics, attribution,"
        " provenance, created_at) SELECT sweep, point_key, kernel, status, message, config, metrics, attribution,"
        " provenance, created_at FROM shard.results ORDER BY id");
  } catch (...) {
    exec("DETACH DATABASE shard");
    throw;
  }
  const int added = sqlite3_total_changes(db_) - before;
  exec("DETACH DATABASE shard");
  return added;
}

}  // namespace attn
