// generators.h: seeded, bit-reproducible input generators (Philox counters; transcendental
// functions implemented with + - * / and sqrt only, so every IEEE machine gives the same bits).
// Values are produced in double, then rounded once to the problem's dtype: the kernel and the
// truth both see the quantized values, and the quantization error is reported separately.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/problem.h"
#include "core/tensor.h"

namespace attn {

enum class Distribution {
  normal,        ///< N(0, 1)
  uniform,       ///< U(-1, 1)
  outliers,      ///< FA3 style: N(0,1) + N(0, 100) * Bernoulli(0.001) (variance 100: std 10)
  large_logits,  ///< Q and K scaled so scaled scores have std `logit_std` (default 1e3)
  sink,          ///< attention sink: the first `sink_keys` keys align strongly with every query
};

std::string distribution_name(Distribution d);
/// Parses normal | uniform | outliers | large-logits | sink; throws ProblemError listing them.
Distribution parse_distribution(const std::string& text);

struct InputSpec {
  Distribution distribution = Distribution::normal;
  uint64_t seed = 0;
  double logit_std = 1e3;   ///< large_logits: target std of scale * q.k
  int sink_keys = 4;        ///< sink: how many leading keys are sinks
  double sink_logit = 12.0; ///< sink: scaled score of a sink key against a typical query
};

/// Q, K, V of a problem, rounded to problem.dtype and stored as doubles.
/// `unquantized_*` keep the double values before rounding (for the input-quantization report).
struct AttentionInputs {
  Tensor<double> q, k, v;
};

/// Standard normal samples for a stream: sample n of stream s under seed is the same everywhere.
/// Polar (Marsaglia) method on Philox uniforms with a portable log.
double normal_sample(uint64_t seed, uint32_t stream, uint64_t index);
double uniform_sample(uint64_t seed, uint32_t stream, uint64_t index);  ///< U(-1, 1)

/// log(x) for finite x > 0 using only + - * / (frexp-reduced atanh series), so it is
/// bit-identical on every IEEE-754 machine; within 2 ulp of the correctly rounded value.
double portable_log(double x);

/// Generates quantized Q, K, V for `problem` (validated first). Streams: Q=1, K=2, V=3.
AttentionInputs generate_inputs(const Problem& problem, const InputSpec& spec);
/// Same generation before rounding to the dtype (double values).
AttentionInputs generate_inputs_unquantized(const Problem& problem, const InputSpec& spec);
/// Rounds every element to `dtype` in place.
void quantize_inputs(AttentionInputs& inputs, DType dtype);

/// FNV-1a 64 over the bit patterns of the doubles: the fixed checksums of the reproducibility tests.
uint64_t checksum(const Tensor<double>& t);

}  // namespace attn
