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
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nheads = [\"8\"]\n"),
                    Catch::Contains("HQ:HKV"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nmasks = [\"diagonal\"]\n"),
                    Catch::Contains("diagonal"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"*\"]\nseqlenq = [4]\n"),
                    Catch::Contains("seqlenq"));
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep\n"), Catch::Contains("not valid TOML"));
  const auto spec = attn::parse_sweep_spec_text("[sweep]\nkernels = [\"fa3.*\"]\n");
  CHECK_THROWS_WITH(attn::expand_sweep(spec, two_kernels(), false), Catch::Contains("fa3.*"));
}
