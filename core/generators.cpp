#include "core/generators.h"

#include <cmath>
#include <algorithm>
#include <cstring>

#include "core/errors.h"
#include "core/philox.h"

namespace attn {
namespace {

constexpr uint32_t kStreamQ = 1, kStreamK = 2, kStreamV = 3;
constexpr uint32_t kStreamSinkDirection = 4, kStreamOutlierMask = 5, kStreamOutlierValue = 6;
constexpr double kOutlierProbability = 0.001;  // FA3's Bernoulli(0.001)
constexpr double kOutlierStd = 10.0;           // N(0, 100): variance 100
constexpr double kSinkQueryShift = 2.0;        // alpha: every query leans along the sink direction

PhiloxBlock draw(uint64_t seed, uint32_t stream, uint64_t index, uint32_t attempt) {
  return philox4x32_10(static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), stream, attempt,
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

}  // namespace

double portable_log(double x) {
  constexpr double kSqrtHalf = 0.70710678118654752440;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;  // high bits of ln 2: e * kLn2Hi is exact
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  int e = 0;
  double m = std::frexp(x, &e);  // exact
  if (m < kSqrtHalf) {
    m *= 2.0;
    e -= 1;
  }
  // log(m) = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716: the odd series converges fast.
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  double series = 1.0 / 25.0;
  for (int k = 11; k >= 0; --k) series = 1.0 / (2 * k + 1) + t2 * series;
  const double log_m = 2.0 * t * series;
  return e * kLn2Hi + (e * kLn2Lo + log_m);
}

double uniform_sample(uint64_t seed, uint32_t stream, uint64_t index) {
  return 2.0 * uniform_open01(draw(seed, stream, index, 0).v[0]) - 1.0;
}

double normal_sample(uint64_t seed, uint32_t stream, uint64_t index) {
  for (uint32_t attempt = 0;; ++attempt) {  // accepts with probability pi/4 per attempt
    const PhiloxBlock r = draw(seed, stream, index, attempt);
    const double u = 2.0 * uniform_open01(r.v[0]) - 1.0;
    const double v = 2.0 * uniform_open01(r.v[1]) - 1.0;
    const double s = u * u + v * v;
    if (s >= 1.0 || s == 0.0) continue;
    return u * std::sqrt(-2.0 * portable_log(s) / s);
  }
}

std::string distribution_name(Distribution d) {
  switch (d) {
    case Distribution::normal: return "normal";
    case Distribution::uniform: return "uniform";
    case Distribution::outliers: return "outliers";
    case Distribution::large_logits: return "large-logits";
    case Distribution::sink: return "sink";
  }
  return "?";
}

Distribution parse_distribution(const std::string& text) {
  for (Distribution d : {Distribution::normal, Distribution::uniform, Distribution::outliers,
                         Distribution::large_logits, Distribution::sink})
    if (text == distribution_name(d)) return d;
  throw ProblemError("unknown distribution '" + text +
                     "' (allowed: normal, uniform, outliers, large-logits, sink)");
}

AttentionInputs generate_inputs_unquantized(const Problem& p, const InputSpec& spec) {
  p.validate();
  AttentionInputs in{Tensor<double>(p.q_shape()), Tensor<double>(p.kv_shape()), Tensor<double>(p.kv_shape())};
  const uint64_t seed = spec.seed;
  auto base = [&](uint32_t stream, uint64_t i) {
    switch (spec.distribution) {
      case Distribution::uniform: return uniform_sample(seed, stream, i);
      case Distribution::outliers: {
        // Per tensor, per element: the outlier decision and value come from their own streams.
        const uint64_t tagged = (static_cast<uint64_t>(stream) << 56) ^ i;
        const bool outlier = uniform_open01(draw(seed, kStreamOutlierMask, tagged, 0).v[0]) < kOutlierProbability;
        const double extra = outlier ? kOutlierStd * normal_sample(seed, kStreamOutlierValue, tagged) : 0.0;
        return normal_sample(seed, stream, i) + extra;
      }
      default: return normal_sample(seed, stream, i);
    }
  };
  for (int64_t i = 0; i < in.q.numel(); ++i) in.q.flat(i) = base(kStreamQ, static_cast<uint64_t>(i));
  for (int64_t i = 0; i < in.k.numel(); ++i) in.k.flat(i) = base(kStreamK, static_cast<uint64_t>(i));
  for (int64_t i = 0; i < in.v.numel(); ++i) in.v.flat(i) = base(kStreamV, static_cast<uint64_t>(i));

  if (spec.distribution == Distribution::large_logits) {
    // scale * (sigma q) . (sigma k) has std sigma^2 * sqrt(D) * scale = sigma^2 for scale 1/sqrt(D).
    const double sigma = std::sqrt(spec.logit_std * (1.0 / std::sqrt(static_cast<double>(p.head_dim))) / p.scale());
    for (double& x : in.q.storage()) x *= sigma;
    for (double& x : in.k.storage()) x *= sigma;
  }
  if (spec.distribution == Distribution::sink) {
    // A unit direction u per (batch, KV head); every query of the group gets + alpha u, the first
    // sink_keys keys become beta u with beta chosen so that scale * alpha * beta = sink_logit.
    const int64_t D = p.head_dim;
    const double beta = spec.sink_logit / (kSinkQueryShift * p.scale());
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t hk = 0; hk < p.num_heads_kv; ++hk) {
        std::vector<double> u(static_cast<size_t>(D));
        double norm2 = 0;
        for (int64_t d = 0; d < D; ++d) {
          u[d] = normal_sample(seed, kStreamSinkDirection, static_cast<uint64_t>((b * p.num_heads_kv + hk) * D + d));
          norm2 += u[d] * u[d];
        }
        const double inv_norm = 1.0 / std::sqrt(norm2);
        for (double& x : u) x *= inv_norm;
        for (int64_t s = 0; s < p.seqlen_q; ++s)
          for (int64_t h = 0; h < p.num_heads_q; ++h)
            if (p.kv_head(h) == hk)
              for (int64_t d = 0; d < D; ++d) in.q(b, s, h, d) += kSinkQueryShift * u[d];
        for (int64_t s = 0; s < std::min<int64_t>(spec.sink_keys, p.seqlen_k); ++s)
          for (int64_t d = 0; d < D; ++d) in.k(b, s, hk, d) = beta * u[d];
      }
  }
  return in;
}

void quantize_inputs(AttentionInputs& in, DType dtype) {
  for (Tensor<double>* t : {&in.q, &in.k, &in.v})
    for (double& x : t->storage()) x = round_to(dtype, x);
}

AttentionInputs generate_inputs(const Problem& p, const InputSpec& spec) {
  AttentionInputs in = generate_inputs_unquantized(p, spec);
  quantize_inputs(in, p.dtype);
  return in;
}

uint64_t checksum(const Tensor<double>& t) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64 offset basis
  for (double x : t.storage()) {
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    for (int byte = 0; byte < 8; ++byte) {
      h ^= (bits >> (8 * byte)) & 0xFF;
      h *= 1099511628211ull;  // FNV prime
    }
  }
  return h;
}

}  // namespace attn
