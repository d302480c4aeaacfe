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
  growing_max,   ///< scores climb a staircase along the keys: the running max grows in every key
                 ///< tile of any BLOCK_N 16..128 (see growing_max_staircase); V drifts from +1 to -1
};

/// The score staircase of the growing-max distribution. Every query row has one non-zero
/// coordinate (1.0); its score against key j is the staircase level of j's 16-key sub-block,
/// quantum x level. Levels rise by steps[b % 8] quanta at sub-block b, so every tile of 16, 32,
/// 64 or 128 keys (aligned, as the kernels tile) raises the running max by the same amount in
/// every period of 128 keys, and its FP16-rounded rescale factor exp2(-growth) errs the same
/// way each time: a kernel that rescales in FP16 accumulates that error tile after tile instead
/// of averaging it out. Chosen for the problem's scale (the kernel's FP32 scale x log2 e) among
/// power-of-two quanta and steps of 1..3 quanta: every tile size's factor at least 0.1 FP16 ULP
/// from a rounding midpoint (the sign never flips with FP32 or ex2.approx rounding), the summed
/// rounding error per period as large as possible for the worst tile size. Levels are integers
/// within +-256 quanta, exact in BF16 and FP16 (so a same-precision baseline sees exact scores),
/// for the first 128 x 512 / sum(steps) keys; beyond that the dtype rounds them (still rising).
struct GrowingMaxStaircase {
  double quantum = 0;           ///< raw (unscaled) score of one step: a power of two
  int steps[8] = {};            ///< quanta added at the start of each 16-key sub-block of a period
  double fp16_error_per_period[4] = {};  ///< summed relative FP16 error of the rescale factors, BLOCK_N 16, 32, 64, 128
  int64_t exact_keys = 0;       ///< keys whose levels are exact in BF16
};
GrowingMaxStaircase growing_max_staircase(double softmax_scale);

std::string distribution_name(Distribution d);
/// Parses normal | uniform | outliers | large-logits | sink | growing-max; throws ProblemError listing them.
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
