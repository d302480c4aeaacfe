// Results database: rows survive a killed writer, resume skips done points, shards merge,
// and a file that is not a results database is rejected with a clear error.
#include <catch2/catch.hpp>

#include <signal.h>
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

TEST_CASE("shards of one sweep merge into one database") {
  const std::string a = temp_path("shard0.sqlite"), b = temp_path("shard1.sqlite"), merged = temp_path("merged.sqlite");
  {
    attn::ResultsDb s0(a), s1(b);
    s0.insert(row("sweep", "p0", 1));
    s0.insert(row("sweep", "p2", 1));
    s1.insert(row("sweep", "p1", 1));
    s1.insert(row("sweep", "p2", 7));  // overlapping point: the first copy merged wins
  }
  attn::ResultsDb m(merged);
  CHECK(m.merge_from(a) == 2);
  CHECK(m.merge_from(b) == 1);
  CHECK(m.done_points("sweep") == std::set<std::string>{"p0", "p1", "p2"});
  CHECK(m.merge_from(b) == 0);  // idempotent
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
