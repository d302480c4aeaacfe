// Sweep specs: parsing, errors that name the key, expansion order and point keys.
#include <catch2/catch.hpp>

#include "core/errors.h"
#include "experiments/sweep_spec.h"

namespace {
attn::Registry two_kernels() {
  attn::Registry r;
  for (const char* name : {"emu.a", "emu.b"}) {
    attn::Kernel k;
    k.info.name = name;
    r.add(k);
  }
  return r;
}
}  // namespace

TEST_CASE("a sweep expands every axis with kernels innermost") {
  const attn::SweepSpec spec = attn::parse_sweep_spec_text(R"(
[sweep]
name = "t"
kernels = ["emu.*"]
dtypes = ["fp16", "bf16"]
seqlen_q = [1, 65]
cache_depth = [0, 300]
heads = ["8:2"]
head_dim = [64]
masks = ["causal", "top-left"]
seeds = [3]
)");
  const auto points = attn::expand_sweep(spec, two_kernels(), false);
  CHECK(points.size() == 2u * 2 * 2 * 2 * 2);
  CHECK(points[0].kernel == "emu.a");
  CHECK(points[1].kernel == "emu.b");
  CHECK(points[0].problem.label() == points[1].problem.label());
  CHECK(points[0].key() == "emu.a|b1.sq1.sk1.h8:2.d64.fp16.causal|normal|seed3");
  // cache depth: S_k = S_q + depth
  bool found = false;
  for (const auto& p : points) found = found || (p.problem.seqlen_q == 65 && p.problem.seqlen_k == 365);
  CHECK(found);
}

TEST_CASE("sweep errors name the key and the problem") {
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nname = \"x\"\n"), Catch::Contains("kernels"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlen_q = [0]\n"),
                    Catch::Contains("seqlen_q"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlen_k = [4]\ncache_depth = [1]\n"),
                    Catch::Contains("either"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nheads = [\"8:x\"]\n"),
                    Catch::Contains("HQ:HKV"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nmasks = [\"diagonal\"]\n"),
                    Catch::Contains("diagonal"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlenq = [4]\n"),
                    Catch::Contains("seqlenq"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep\n"), Catch::Contains("not valid TOML"));
  const auto spec = attn::parse_sweep_spec_text("[sweep]\nkernels = [\"fa3.*\"]\n");
  CHECK_THROWS_WITH(attn::expand_sweep(spec, two_kernels(), false), Catch::Contains("fa3.*"));
}

// UBSan findings: "heads = ['4:0']" reached a division by zero, and S_q + cache depth could
// overflow int64. Both are named errors at parse time now.
TEST_CASE("sweep sizes that would divide by zero or overflow are refused by name") {
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nheads = [\"4:0\"]\n"),
                    Catch::Contains("heads entry '4:0'") && Catch::Contains("positive"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nheads = [\"6:4\"]\n"),
                    Catch::Contains("not a multiple"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlen_q = [9223372036854775807]\n"
                                                "cache_depth = [9223372036854775807]\n"),
                    Catch::Contains("seqlen_q") && Catch::Contains("2^48"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nattribution = \"yes\"\n"),
                    Catch::Contains("attribution") && Catch::Contains("true or false"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nname = 3\n"), Catch::Contains("name"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\n[other]\nx = 1\n"),
                    Catch::Contains("unknown table 'other'"));
  const auto heads = attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nheads = [\"16\", \"8:2\"]\n");
  CHECK(heads.heads == std::vector<std::pair<int64_t, int64_t>>{{16, 16}, {8, 2}});
}

TEST_CASE("extra grids add points, inherit unset axes and never repeat a point") {
  const attn::SweepSpec spec = attn::parse_sweep_spec_text(R"(
[sweep]
name = "t"
kernels = ["emu.*"]
seqlen_q = [1, 65]
cache_depth = [0, 300]
heads = ["8:2"]

[[sweep.grid]]
distributions = ["growing-max"]
seqlen_q = [1]
cache_depth = [4096]

[[sweep.grid]]
seqlen_q = [1]
)");
  REQUIRE(spec.extra_grids.size() == 2);
  CHECK(spec.extra_grids[0].heads == spec.heads);  // inherited
  const auto points = attn::expand_sweep(spec, two_kernels(), false);
  // base 2 x 2 problems, the growing-max grid 1, the second grid only repeats base points
  CHECK(points.size() == 2u * (4 + 1));
  CHECK(points.back().key() == "emu.b|b1.sq1.sk4097.h8:2.d64.fp16.causal|growing-max|seed0");
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\n[[sweep.grid]]\nkernels = [\"x\"]\n"),
                    Catch::Contains("a grid sets axes only"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\n[[sweep.grid]]\nseqlen_q = [0]\n"),
                    Catch::Contains("[[sweep.grid]] 1"));
}

TEST_CASE("the spec hash changes with every point and with the row-changing settings") {
  const std::string base = "[sweep]\nname = \"t\"\nkernels = [\"emu.*\"]\nseqlen_q = [1, 7]\n";
  auto hash = [](const std::string& text) {
    const attn::SweepSpec spec = attn::parse_sweep_spec_text(text);
    return attn::spec_hash(attn::expanded_spec_json(spec, attn::expand_sweep(spec, two_kernels(), false)));
  };
  const std::string h = hash(base);
  CHECK(h.size() == 16);
  CHECK(hash(base) == h);                                      // deterministic
  CHECK(hash(base + "# a comment changes nothing\n") == h);
  CHECK(hash("[sweep]\nname = \"t\"\nkernels = [\"emu.*\"]\nseqlen_q = [1]\n") != h);  // fewer points
  CHECK(hash(base + "attribution = false\n") != h);
  CHECK(hash(base + "allow_masked_rows = true\n") != h);
}

// fuzz/fuzz_sweep_spec finding: Debian's toml++ reaches __builtin_unreachable (undefined
// behaviour) on a non-ASCII character in a bare key or value. Refused before toml++ sees it;
// non-ASCII inside strings and comments stays allowed.
TEST_CASE("non-ASCII outside strings and comments is refused by line and column") {
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nseql\xef\xbb\xaf" "en_q = [1]\nkernels = [\"*\"]\n"),
                    Catch::Contains("line 2, column 5") && Catch::Contains("non-ASCII"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlen_q = [1, \xc2\xa1]\n"),
                    Catch::Contains("line 3"));
  const auto ok = attn::parse_sweep_spec_text(
      "# caf\xc3\xa9\n[sweep]\nname = \"caf\xc3\xa9\" # \xc3\xbc\nkernels = ['*', \"\"\"\xc3\xa9\"\"\", '''\xc3\xa9''']\n");
  CHECK(ok.name == "caf\xc3\xa9");
  // An escaped quote stays in the string; 4 quotes end a multiline string with one quote inside.
  CHECK_NOTHROW(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"a\\\"\xc3\xa9\"]\n"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nx = \"\"\"a\"\"\"\"\xc3\xa9\n"),
                    Catch::Contains("line 3, column 13"));
}
