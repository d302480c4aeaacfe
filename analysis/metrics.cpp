#include "analysis/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/errors.h"

namespace attn {
namespace {

constexpr int kHistogramBins = kUlpHistogramBins;  // edges in metrics.h: [0,.5) [.5,1) [1,2) ... [64,inf)
static_assert(kHistogramBins == 9, "histogram_bin() maps to the edges 0, 0.5, 1, 2, ..., 64, inf");

int histogram_bin(double ulps) {
  if (!(ulps < 64.0)) return kHistogramBins - 1;  // also NaN/inf: the worst bin, never dropped
  if (ulps < 0.5) return 0;
  if (ulps < 1.0) return 1;
  int e = 0;
  std::frexp(ulps, &e);  // ulps in [2^(e-1), 2^e)
  return 1 + e;          // [1,2) -> 2, [2,4) -> 3, ...
}

}  // namespace

ErrorMetrics compute_metrics(const Tensor<double>& output, const Tensor<double>& truth, DType dtype) {
  if (output.shape() != truth.shape())
    throw Error("compute_metrics: output shape " + shape_string(output.shape()) + " differs from truth shape " +
                shape_string(truth.shape()));
  const FloatFormat& format = format_of(dtype);
  const double inf = std::numeric_limits<double>::infinity();
  ErrorMetrics m;
  m.count = output.numel();
  m.ulp_histogram.assign(kHistogramBins, 0);
  std::vector<double> ulps(static_cast<size_t>(m.count));
  double sum_abs = 0, sum_sq = 0, truth_sq = 0;
  const int64_t row_length = truth.shape().empty() ? 1 : std::max<int64_t>(1, truth.shape().back());
  double row_ulp = 0;  // ULP of the current row's scale
  for (int64_t i = 0; i < m.count; ++i) {
    if (i % row_length == 0) {
      double scale = 0;
      for (int64_t j = i; j < std::min(m.count, i + row_length); ++j) scale = std::max(scale, std::fabs(truth.flat(j)));
      row_ulp = ulp_of(scale, format);
    }
    const double o = output.flat(i), x = truth.flat(i);
    double diff;
    if (std::isnan(o)) {
      ++m.nan_count;
      diff = inf;  // a NaN is the worst possible error, not a skipped element
    } else if (std::isinf(o)) {
      ++m.inf_count;
      diff = std::isinf(x) && o == x ? 0.0 : inf;
    } else {
      diff = std::fabs(o - x);
    }
    const double ulp = diff / ulp_of(x, format);
    ulps[static_cast<size_t>(i)] = ulp;
    ++m.ulp_histogram[static_cast<size_t>(histogram_bin(ulp))];
    if (!(diff <= m.max_abs)) {
      m.max_abs = diff;
      m.argmax_flat = i;
    }
    m.ulp_max = std::max(m.ulp_max, ulp);
    m.row_ulp_max = std::max(m.row_ulp_max, diff / row_ulp);
    sum_abs += diff;
    sum_sq += diff * diff;
    truth_sq += x * x;
  }
  if (m.count > 0) {
    m.mean_abs = sum_abs / static_cast<double>(m.count);
    m.rmse = std::sqrt(sum_sq / static_cast<double>(m.count));
    // p99: the smallest error that at least 99% of the elements do not exceed.
    const size_t k = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(m.count))) - 1;
    std::nth_element(ulps.begin(), ulps.begin() + static_cast<std::ptrdiff_t>(k), ulps.end());
    m.ulp_p99 = ulps[k];
  }
  m.rel_fro = truth_sq > 0 ? std::sqrt(sum_sq / truth_sq) : (sum_sq > 0 ? inf : 0.0);
  return m;
}

ErrorMetrics rounding_floor(const Tensor<double>& truth, DType dtype) {
  Tensor<double> rounded(truth.shape());
  for (int64_t i = 0; i < truth.numel(); ++i) rounded.flat(i) = round_to(dtype, truth.flat(i));
  return compute_metrics(rounded, truth, dtype);
}

double max_abs_error(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.shape() != b.shape())
    throw Error("max_abs_error: shape " + shape_string(a.shape()) + " differs from " + shape_string(b.shape()));
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(a.flat(i) - b.flat(i));
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, d);
  }
  return worst;
}

double rmse_between(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.shape() != b.shape())
    throw Error("rmse_between: shape " + shape_string(a.shape()) + " differs from " + shape_string(b.shape()));
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += (a.flat(i) - b.flat(i)) * (a.flat(i) - b.flat(i));
  return std::sqrt(s / static_cast<double>(std::max<int64_t>(1, a.numel())));
}

Fp8Agreement fp8_agreement(const Tensor<double>& out, const Tensor<double>& emulator, const Tensor<double>& truth,
                           double floor) {
  Fp8Agreement a;
  a.rmse_kernel = rmse_between(out, truth);
  a.rmse_emulator = rmse_between(emulator, truth);
  a.rmse_gap = rmse_between(out, emulator);
  // Written so that a NaN in any of the three fails.
  a.pass = a.rmse_kernel <= 1.1 * a.rmse_emulator + floor && a.rmse_gap <= 0.25 * a.rmse_emulator + floor;
  return a;
}

FaRuleVerdict fa_rule(double kernel_max_abs, double baseline_max_abs, bool output_finite, const FaRule& rule) {
  FaRuleVerdict v;
  v.bound = rule.factor * baseline_max_abs + rule.slack;
  v.ratio = output_finite ? kernel_max_abs / v.bound : std::numeric_limits<double>::infinity();
  // Written so that any NaN (kernel error, baseline error, bound) fails: NaN <= 1 is false.
  v.pass = output_finite && baseline_max_abs >= 0 && v.ratio <= 1.0;
  return v;
}

FaRuleVerdict fa_rule(const ErrorMetrics& kernel, const ErrorMetrics& baseline, const FaRule& rule) {
  return fa_rule(kernel.max_abs, baseline.max_abs, kernel.nan_count == 0 && kernel.inf_count == 0, rule);
}

std::string fa_rule_text(const FaRule& rule) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "max_abs <= %g x baseline + %g", rule.factor, rule.slack);
  return buf;
}

}  // namespace attn
