// test_timing.cpp: timing of the FP64 reference and of compute_truth at S = 8192, D = 128 —
// hidden (tag [.timing]), not part of the default run; run it explicitly:
//   build/refs/tests/test_references "[.timing]"
// It still checks what it times (finite output, FP64 certified within the truth threshold).
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/generators.h"
#include "references/fp64_attention.h"
#include "core/parallel_for.h"
#include "references/truth.h"
#include "reference_test_util.h"

namespace attn {

TEST_CASE("timing: FP64 reference and compute_truth at S = 8192, D = 128, causal", "[.timing]") {
  for (const int64_t heads : {int64_t{1}, int64_t{8}}) {
    const Problem p = test::make_problem(1, 8192, 8192, heads, heads, 128);
    const AttentionInputs in = generate_inputs(p, InputSpec{});
    const auto start = std::chrono::steady_clock::now();
    const AttentionOutputs o = fp64_attention(p, in);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Truth t = compute_truth(p, in);
    std::printf("%s: fp64_attention %.2f s on %d threads; compute_truth %s: fp64 %.2f s, certify %d rows %.2f s, "
                "gap %.3e ulp\n",
                p.label().c_str(), seconds, default_thread_count(), t.method.c_str(), t.seconds_fp64,
                t.certified_rows, t.seconds_certify, t.fp64_gap_ulps);
    CHECK(t.method == "fp64");
    CHECK(t.fp64_gap_ulps < 1e-3);
    for (int64_t n = 0; n < o.o.numel(); n += 4099) REQUIRE(std::isfinite(o.o.flat(n)));
  }
}

}  // namespace attn
