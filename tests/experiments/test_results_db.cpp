// Results database: rows survive a killed writer, resume skips done points, shards of one spec
// merge (others are refused), read-only opening writes nothing, and a file that is not a results
// database (text, another program's SQLite, a corrupted one, a pipe) is rejected with a clear
// error before anything is written.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "experiments/results_db.h"

namespace {

std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
  return p.string();
}

attn::ResultRow row(const std::string& sweep, const std::string& key, double max_abs) {
  return {sweep, key, "naive-fp16", "ok", "", {{"label", key}}, {{"kernel", {{"max_abs", max_abs}}}}, nullptr,
          {{"commit", "test"}}};
}

}  // namespace

TEST_CASE("rows round-trip and resume sees them") {
  const std::string path = temp_path("roundtrip.sqlite");
  {
    attn::ResultsDb db(path);
    db.insert(row("s", "a", 1.5));
    db.insert(row("s", "b", 2.5));
    db.insert(row("t", "a", 3.5));
  }
  attn::ResultsDb db(path);
  CHECK(db.done_points("s") == std::set<std::string>{"a", "b"});
  const auto rows = db.rows(std::string("s"));
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].metrics["kernel"]["max_abs"].get<double>() == 2.5);
  CHECK(db.sweeps() == std::vector<std::string>{"s", "t"});
  db.insert(row("s", "a", 9.0));  // same point again replaces, never duplicates
  CHECK(db.rows(std::string("s")).size() == 2);
}

TEST_CASE("a writer killed with SIGKILL loses nothing it had inserted") {
  const std::string path = temp_path("killed.sqlite");
  { attn::ResultsDb create(path); }
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    attn::ResultsDb db(path);
    for (int i = 0;; ++i) {
      db.insert(row("killed", "p" + std::to_string(i), i));
      if (i == 24) {
        char done = 1;
        (void)!write(fds[1], &done, 1);  // 25 rows committed: the parent may kill us now
      }
    }
  }
  char byte = 0;
  REQUIRE(read(fds[0], &byte, 1) == 1);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFSIGNALED(status));
  attn::ResultsDb db(path);
  const auto done = db.done_points("killed");
  CHECK(done.size() >= 25);
  for (int i = 0; i < 25; ++i) CHECK(done.count("p" + std::to_string(i)) == 1);
}

attn::SweepRecord record(const std::string& hash, const std::string& commit = "c1") {
  attn::SweepRecord r;
  r.name = "sweep";
  r.spec_hash = hash;
  r.commit = commit;
  r.spec = {{"points", {"p0", "p1", "p2"}}};
  r.points = 3;
  return r;
}

TEST_CASE("shards of one sweep merge into one database; shards of another spec are refused") {
  const std::string a = temp_path("shard0.sqlite"), b = temp_path("shard1.sqlite"), merged = temp_path("merged.sqlite");
  const std::string other = temp_path("other_spec.sqlite"), other_build = temp_path("other_build.sqlite");
  {
    attn::ResultsDb s0(a), s1(b), s2(other), s3(other_build);
    for (attn::ResultsDb* s : {&s0, &s1}) s->write_sweep_record(record("h1"));
    s2.write_sweep_record(record("h2"));
    s3.write_sweep_record(record("h1", "c2"));
    s0.insert(row("sweep", "p0", 1));
    s0.insert(row("sweep", "p2", 1));
    s1.insert(row("sweep", "p1", 1));
    s1.insert(row("sweep", "p2", 7));  // overlapping point: the first copy merged wins
    s2.insert(row("sweep", "p3", 1));
    s3.insert(row("sweep", "p4", 1));
  }
  attn::ResultsDb m(merged);
  CHECK(m.merge_from(attn::ResultsDb(a, attn::DbMode::read_only)) == 2);
  CHECK(m.merge_from(attn::ResultsDb(b, attn::DbMode::read_only)) == 1);
  CHECK(m.done_points("sweep") == std::set<std::string>{"p0", "p1", "p2"});
  CHECK(m.merge_from(attn::ResultsDb(b, attn::DbMode::read_only)) == 0);  // idempotent
  CHECK_THROWS_WITH(m.merge_from(attn::ResultsDb(other, attn::DbMode::read_only)), Catch::Contains("another spec"));
  CHECK_THROWS_WITH(m.merge_from(attn::ResultsDb(other_build, attn::DbMode::read_only)), Catch::Contains("commit c2"));
  CHECK(m.done_points("sweep").size() == 3);  // refused shards added nothing
  CHECK(m.merge_from(attn::ResultsDb(other_build, attn::DbMode::read_only), /*allow_mixed_commits=*/true) == 1);
  CHECK(m.sweep_record("sweep")->stale_commits == std::vector<std::string>{"c2"});
  // A shard with rows but no record of their spec (an older attnscope) cannot be vouched for.
  const std::string legacy = temp_path("legacy.sqlite");
  {
    attn::ResultsDb l(legacy);
    l.insert(row("sweep", "p9", 1));
  }
  CHECK_THROWS_WITH(m.merge_from(attn::ResultsDb(legacy, attn::DbMode::read_only)), Catch::Contains("no spec record"));
}

TEST_CASE("read-only opening never creates or modifies a file") {
  const std::string path = temp_path("ro.sqlite");
  CHECK_THROWS_AS(attn::ResultsDb(path, attn::DbMode::read_only), attn::FileFormatError);
  CHECK_FALSE(std::filesystem::exists(path));  // a missing database is not created
  {
    attn::ResultsDb db(path);
    db.insert(row("s", "a", 1.5));
  }
  const auto before = std::filesystem::last_write_time(path);
  const auto size = std::filesystem::file_size(path);
  {
    const attn::ResultsDb db(path, attn::DbMode::read_only);
    CHECK(db.rows().size() == 1);
    CHECK_THROWS_WITH(const_cast<attn::ResultsDb&>(db).insert(row("s", "b", 1)), Catch::Contains("read-only"));
  }
  CHECK(std::filesystem::last_write_time(path) == before);
  CHECK(std::filesystem::file_size(path) == size);
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));  // no side files left by a reader
  CHECK_FALSE(std::filesystem::exists(path + "-shm"));
  // An empty file is an empty database: nothing to read, an error naming it.
  const std::string empty = temp_path("empty.sqlite");
  std::ofstream(empty).close();
  CHECK_THROWS_WITH(attn::ResultsDb(empty, attn::DbMode::read_only), Catch::Contains("no results"));
}

TEST_CASE("a corrupted database stops with a named error before anything is written") {
  const std::string path = temp_path("corrupt.sqlite");
  {
    attn::ResultsDb db(path);
    for (int i = 0; i < 400; ++i) db.insert(row("s", "p" + std::to_string(i), i));
  }
  // Overwrite a page in the middle of the file with garbage (the header stays valid).
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 3);
    const std::string garbage(4096, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto size = std::filesystem::file_size(path);
  CHECK_THROWS_AS(attn::ResultsDb(path), attn::FileFormatError);
  CHECK_THROWS_WITH(attn::ResultsDb(path, attn::DbMode::read_only), Catch::Contains("corrupt") || Catch::Contains("malformed"));
  CHECK(std::filesystem::file_size(path) == size);
}

TEST_CASE("another program's SQLite database is refused, not extended") {
  const std::string path = temp_path("foreign.sqlite");
  {  // a minimal foreign database, built through SQLite itself
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE customers (id INTEGER, name TEXT); INSERT INTO customers VALUES (1, 'x');",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK_THROWS_WITH(attn::ResultsDb(path), Catch::Contains("something else"));
  CHECK_THROWS_WITH(attn::ResultsDb(path, attn::DbMode::read_only), Catch::Contains("something else"));
}

TEST_CASE("a special file is refused without blocking") {
  const std::string fifo = temp_path("pipe.sqlite");
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(attn::ResultsDb(fifo), Catch::Contains("named pipe"));
  CHECK_THROWS_WITH(attn::ResultsDb(fifo, attn::DbMode::read_only), Catch::Contains("named pipe"));
}

TEST_CASE("a file that is not a results database is rejected, not overwritten") {
  const std::string path = temp_path("not_a_db.sqlite");
  {
    std::ofstream f(path);
    f << "this is a text file, not SQLite, and it must survive";
  }
  CHECK_THROWS_AS(attn::ResultsDb(path), attn::FileFormatError);
  std::ifstream f(path);
  std::string content((std::istreambuf_iterator<char>(f)), {});
  CHECK(content == "this is a text file, not SQLite, and it must survive");
}
