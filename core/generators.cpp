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
constexpr double kLog2e = 1.4426950408889634;
constexpr int kStaircaseLevels = 256;           // growing-max levels within +-256 quanta: exact in BF16
constexpr double kMinMidpointDistance = 0.1;    // growing-max: rescale factors this far (in FP16 ULPs) from a tie
constexpr int kStaircaseJitter = 15;            // growing-max: keys below their sub-block's level by 0..15 quanta
constexpr int kMaxQuantaPerPeriod = 15;         // growing-max: 2 x (256 - 15) / 15 periods of 128 keys = 4112 exact keys

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
    case Distribution::growing_max: return "growing-max";
  }
  return "?";
}

Distribution parse_distribution(const std::string& text) {
  for (Distribution d : {Distribution::normal, Distribution::uniform, Distribution::outliers,
                         Distribution::large_logits, Distribution::sink, Distribution::growing_max})
    if (text == distribution_name(d)) return d;
  throw ProblemError("unknown distribution '" + text +
                     "' (allowed: normal, uniform, outliers, large-logits, sink, growing-max)");
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
  if (spec.distribution == Distribution::growing_max) {
    // Q: one coordinate per (batch, KV head), chosen by the seed, equal to 1 for every query of
    // the group; K: that coordinate is the staircase level of the key's 16-key sub-block (the
    // other coordinates, which no score sees, stay random); V: +1 on the keys before the point
    // where a row that sees every key has half of its softmax mass, -1 after, times a random sign
    // per coordinate. No noise: the output is the balance of the two halves, so an error in the
    // weight of old tiles against new ones (the rescale) shows undiluted, and the same-precision
    // baseline's error stays small.
    const GrowingMaxStaircase stairs = growing_max_staircase(p.scale());
    const int64_t D = p.head_dim;
    const int64_t blocks = (p.seqlen_k + 15) / 16;
    std::vector<double> level(static_cast<size_t>(blocks));
    int64_t climbed = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      if (b > 0) climbed += stairs.steps[b % 8];
      level[static_cast<size_t>(b)] = static_cast<double>(climbed);
    }
    // Levels use the signed range: -256..256 quanta around the middle of the climb.
    const int64_t centre = std::min<int64_t>((climbed - kStaircaseJitter) / 2, kStaircaseLevels - kStaircaseJitter);
    const double scale_log2 = p.scale() * kLog2e;
    for (double& x : in.q.storage()) x = 0.0;
    for (int64_t b = 0; b < p.batch; ++b) {
      // Each key sits 0..15 quanta below its sub-block's level, one key per sub-block exactly on
      // it (the sub-block's max): the probabilities inside a tile then differ from period to
      // period, so the kernels' rounding of P stays random rather than repeating with the stairs.
      std::vector<int64_t> below(static_cast<size_t>(p.seqlen_k));
      for (int64_t j = 0; j < p.seqlen_k; ++j) {
        const uint64_t tagged = (static_cast<uint64_t>(b) << 40) ^ static_cast<uint64_t>(j);
        below[static_cast<size_t>(j)] = 1 + static_cast<int64_t>(uniform_open01(draw(seed, kStreamK, tagged, 7).v[0]) * kStaircaseJitter);
      }
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t first = block * 16, size = std::min<int64_t>(16, p.seqlen_k - first);
        const int64_t top = static_cast<int64_t>(uniform_open01(draw(seed, kStreamK, static_cast<uint64_t>(b * blocks + block), 8).v[0]) * static_cast<double>(size));
        below[static_cast<size_t>(first + std::min(top, size - 1))] = 0;
      }
      auto raw_score = [&](int64_t j) {  // in quanta
        return level[static_cast<size_t>(j / 16)] - static_cast<double>(centre + below[static_cast<size_t>(j)]);
      };
      // Softmax mass of a row that sees every key, by position: where it is halved V turns over.
      const int64_t keys = p.keys_in_batch(b);
      const double top_score = keys > 0 ? raw_score(keys - 1) + kStaircaseJitter : 0.0;
      double total = 0, half_mass = 0;
      for (int64_t j = 0; j < keys; ++j) total += std::exp2((raw_score(j) - top_score) * stairs.quantum * scale_log2);
      int64_t turn = keys;
      for (int64_t j = 0; j < keys; ++j) {
        half_mass += std::exp2((raw_score(j) - top_score) * stairs.quantum * scale_log2);
        if (half_mass >= total / 2) {
          turn = j + 1;
          break;
        }
      }
      for (int64_t hk = 0; hk < p.num_heads_kv; ++hk) {
        const int64_t c = static_cast<int64_t>(uniform_open01(draw(seed, kStreamSinkDirection, static_cast<uint64_t>(b * p.num_heads_kv + hk), 0).v[0]) * static_cast<double>(D)) % D;
        for (int64_t s = 0; s < p.seqlen_q; ++s)
          for (int64_t h = 0; h < p.num_heads_q; ++h)
            if (p.kv_head(h) == hk) in.q(b, s, h, c) = 1.0;
        std::vector<double> column_sign(static_cast<size_t>(D));  // V's drift, +-1 per coordinate by the seed
        for (int64_t d = 0; d < D; ++d)
          column_sign[static_cast<size_t>(d)] =
              uniform_sample(seed, kStreamOutlierMask, static_cast<uint64_t>((b * p.num_heads_kv + hk) * D + d)) < 0 ? -1.0 : 1.0;
        for (int64_t j = 0; j < p.seqlen_k; ++j) {
          in.k(b, j, hk, c) = raw_score(j) * stairs.quantum;
          for (int64_t d = 0; d < D; ++d) in.v(b, j, hk, d) = (j < turn ? 1.0 : -1.0) * column_sign[static_cast<size_t>(d)];
        }
      }
    }
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

GrowingMaxStaircase growing_max_staircase(double softmax_scale) {
  // The kernel's running max lives in log2 units: m = RN32(s * RN32(scale * log2 e)).
  const double scale_log2 = static_cast<float>(static_cast<float>(softmax_scale) * static_cast<float>(kLog2e));
  constexpr int kTileSizes[4] = {1, 2, 4, 8};  // sub-blocks of 16 keys per tile: BLOCK_N 16, 32, 64, 128
  GrowingMaxStaircase best;
  double best_score = -1;
  for (int exponent = -12; exponent <= 0; ++exponent) {
    const double quantum = std::ldexp(1.0, exponent);
    // Total growth over the exact range (+-256 quanta) in log2 units: 1.5..3 keeps the softmax
    // mass spread over the sequence (the oldest tiles weigh 1/3 to 1/8 of the newest).
    const double total_growth = 2 * kStaircaseLevels * quantum * scale_log2;
    if (total_growth < 1.5 || total_growth > 3.0) continue;
    int steps[8];
    for (int code = 0; code < 6561; ++code) {  // 3^8 patterns of steps 1..3
      int sum = 0;
      for (int i = 0, c = code; i < 8; ++i, c /= 3) sum += steps[i] = 1 + c % 3;
      if (sum > kMaxQuantaPerPeriod) continue;  // keep >= 4096 keys exact
      double worst = 1e300, per_size[4];
      bool robust = true;
      for (int size = 0; size < 4 && robust; ++size) {
        double error = 0;
        for (int tile = 0; tile < 8 / kTileSizes[size]; ++tile) {
          int growth = 0;
          for (int i = 0; i < kTileSizes[size]; ++i) growth += steps[tile * kTileSizes[size] + i];
          const double alpha = std::exp2(-growth * quantum * scale_log2);
          int e = 0;
          std::frexp(alpha, &e);
          const double position = std::ldexp(alpha, kFp16.precision - e);  // alpha in FP16 ULPs
          const double fraction = position - std::floor(position);
          robust = robust && std::fabs(fraction - 0.5) >= kMinMidpointDistance;
          error += (round_to(DType::fp16, alpha) - alpha) / alpha;
        }
        per_size[size] = error;
        worst = std::min(worst, std::fabs(error));
      }
      // Prefer larger errors, then fewer quanta per period (more keys in the exact range).
      const double score = robust ? worst * (1.0 + 1e-3 / sum) : -1;
      if (score > best_score) {
        best_score = score;
        best.quantum = quantum;
        std::copy(steps, steps + 8, best.steps);
        std::copy(per_size, per_size + 4, best.fp16_error_per_period);
        best.exact_keys = int64_t{2} * (kStaircaseLevels - kStaircaseJitter) / sum * 128;
      }
    }
  }
  if (best_score < 0) throw ProblemError("growing-max: no staircase fits softmax scale " + std::to_string(softmax_scale));
  return best;
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
