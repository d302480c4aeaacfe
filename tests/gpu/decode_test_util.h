// decode_test_util.h: what the GPU decode tests share: the FlashAttention rule of a decode run
// (max error <= 2 x the naive baseline's + 1e-5, LSE within 1e-4 relative, nothing left NaN) and
// the ragged decode problem (B 3 of fills depth + S_q, depth / 3 + S_q, S_q).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "analysis/metrics.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "kernels/decode/register_decode_kernels.h"
#include "references/truth.h"

namespace attn {

struct Rule {
  double error = 0, baseline = 0, bound = 0;
  bool written = true, lse_ok = true, fa_pass = false;
  bool passes() const { return fa_pass && written && lse_ok; }
};

inline Rule check_rule(const AttentionOutputs& out, const Truth& truth, const AttentionOutputs& baseline) {
  Rule r;
  r.error = max_abs_error(out.o, truth.o);
  r.baseline = max_abs_error(baseline.o, truth.o);
  for (int64_t i = 0; i < out.o.numel(); ++i) r.written &= !std::isnan(out.o.flat(i));
  const FaRuleVerdict rule = fa_rule(r.error, r.baseline, r.written);  // the one FlashAttention rule
  r.bound = rule.bound;
  r.fa_pass = rule.pass;
  for (int64_t i = 0; i < out.lse.numel(); ++i) {
    const double t = truth.lse.flat(i), k = out.lse.flat(i);
    r.lse_ok &= std::isinf(t) ? (std::isinf(k) && k < 0) : std::fabs(k - t) <= 1e-4 * (1 + std::fabs(t));
  }
  return r;
}

/// A registered decode or chunked-prefill kernel that reads an E4M3 cache (kernels/cache/fp8_kv.h;
/// its trait fp8_cache): judged against the truth of the dequantized cache, and without an
/// emulator configuration of its own.
inline bool is_fp8_cache_kernel(const Kernel& k) {
  const auto it = k.info.traits.find("fp8_cache");
  return it != k.info.traits.end() && it->second == "true";
}

/// B = 3 entries of fills depth + S_q, depth/3 + S_q and S_q (capacity: the longest + 5 unused rows).
inline Problem decode_problem(DType dtype, int64_t d, int64_t depth, int64_t sq, int64_t group, int64_t heads_kv = 2) {
  Problem p;
  p.batch = 3;
  p.seqlen_q = sq;
  p.seqlen_k = depth + sq + 5;
  p.num_heads_kv = heads_kv;
  p.num_heads_q = heads_kv * group;
  p.head_dim = d;
  p.dtype = dtype;
  p.seqlens_k = {depth + sq, depth / 3 + sq, sq};
  return p;
}

}  // namespace attn
