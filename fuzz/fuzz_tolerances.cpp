// libFuzzer harness: a tolerance file (TOML) parsed, then run as a gate over a small in-memory
// results database (every rule matched, bounded and summarized, JUnit written to memory), as
// `attnscope gate` does. A named attn::Error is the expected answer to a malformed file. The
// file's baseline_db is dropped: a fuzzed path must not open the fuzzer's own files.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "experiments/gate.h"
#include "fuzz_limits.h"

namespace {
const attn::ResultsDb& database() {
  static attn::ResultsDb* db = [] {
    auto* d = new attn::ResultsDb(":memory:", attn::DbMode::read_write);
    int i = 0;
    for (const char* kernel : {"naive-fp16", "emu.bf16.dany.m64n64", "emu.fp16.dany.m64n64.mutant-rescale-fp16", "decode.fp16.d64.m64n64.split"})
      for (int64_t sq : {1, 7, 65}) {
        const double err = 1e-4 * (1 + i++ % 5);
        d->insert({"fuzz", std::string(kernel) + "|" + std::to_string(sq), kernel, i % 7 ? "ok" : (i % 2 ? "error" : "invalid"),
                   "", {{"dtype", i % 2 ? "fp16" : "bf16"}, {"seqlen_q", sq}, {"seqlen_k", sq + 300}, {"cache_depth", 300},
                        {"distribution", i % 3 ? "normal" : "growing-max"}, {"mask", "causal"}, {"head_dim", 64},
                        {"gqa_ratio", 4}},
                   {{"kernel", {{"max_abs", err}, {"rmse", err / 3}, {"ulp_max", 2.0}, {"mean_abs", err / 4},
                                {"rel_fro", 1e-3}, {"nan_count", 0}, {"inf_count", i % 11 == 0 ? 1 : 0}}},
                    {"baseline", {{"max_abs", 2e-4}}}, {"excess", i % 13 == 0 ? nlohmann::json() : nlohmann::json(1.5)}},
                   nullptr, {{"commit", "fuzz"}, {"point_seconds", 0.5}}});
      }
    return d;
  }();
  return *db;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::fuzz::set_limits();
  try {
    attn::GateSpec spec = attn::parse_gate_spec_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.toml");
    spec.baseline_db.reset();
    for (const attn::GateRule& r : spec.rules) (void)r.describe();
    attn::GateOptions options;
    options.allow_unchecked = size % 2 == 0;
    const attn::GateResult result = attn::run_gate(database(), spec, options);
    (void)attn::gate_summary(result, spec);
    (void)attn::to_junit_xml(result, {{"commit", "fuzz"}}, 1.0);
  } catch (const attn::Error&) {
  }
  return 0;
}
