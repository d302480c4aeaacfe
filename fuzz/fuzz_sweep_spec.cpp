// libFuzzer harness: a sweep spec (TOML) parsed, expanded over a small registry, validated point
// by point and hashed, as `attnscope sweep` does before it runs anything. A named attn::Error is
// the expected answer to a malformed spec.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "experiments/sweep_spec.h"
#include "fuzz_limits.h"

namespace {
const attn::Registry& registry() {
  static const attn::Registry r = [] {
    attn::Registry reg;
    for (const char* name : {"naive-fp16", "naive-bf16", "emu.fp16.dany.m64n64", "emu.fp16.dany.m64n64.mutant-rescale-fp16"}) {
      attn::Kernel k;
      k.info.name = name;
      reg.add(k);
    }
    return reg;
  }();
  return r;
}
constexpr size_t kMaxPointsExpanded = 2000;  // beyond: the product of axes alone is the test
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::fuzz::set_limits();
  try {
    const attn::SweepSpec spec = attn::parse_sweep_spec_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    size_t points_planned = 0;  // the cartesian products, computed before expanding them
    std::vector<const attn::SweepAxes*> grids{&spec};
    for (const attn::SweepAxes& g : spec.extra_grids) grids.push_back(&g);
    for (const attn::SweepAxes* a : grids)
      points_planned += a->dtypes.size() * a->batch.size() * a->seqlen_q.size() * a->heads.size() *
                        a->head_dim.size() * a->masks.size() * a->distributions.size() * a->seeds.size() *
                        (a->seqlen_k.empty() ? a->cache_depth.size() : a->seqlen_k.size()) * registry().all().size();
    if (points_planned > kMaxPointsExpanded) return 0;
    const auto points = attn::expand_sweep(spec, registry(), false);
    for (const attn::SweepPoint& p : points) {
      try {
        p.problem.validate();
        (void)p.problem.estimated_bytes(true);
        (void)p.problem.label();
      } catch (const attn::Error&) {
      }
    }
    (void)attn::spec_hash(attn::expanded_spec_json(spec, points));
  } catch (const attn::Error&) {
  }
  return 0;
}
