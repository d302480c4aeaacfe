// fingerprint.cpp: scoring every precision hypothesis against an observed output
// (analysis/fingerprint.h).
#include "analysis/fingerprint.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/errors.h"
#include "core/validation.h"

namespace attn {
namespace {

constexpr double kFitExplains = 0.45;       ///< below: no hypothesis explains the output
constexpr double kFitConfident = 0.8;       ///< below: a weak fit (confidence low)
constexpr double kReplayCorrelation = 0.5;  ///< below: the roundings are not replayed element by element
constexpr double kFitTie = 0.01;            ///< fits this close are a tie
constexpr double kMinSeparation = 0.1;      ///< outputs closer than this (floor units) are one output
constexpr size_t kRefinedHypotheses = 3;    ///< best online hypotheses whose block width is fitted
constexpr double kRefineMargin = 0.15;      ///< and any other fitting this close to the best
constexpr int kAlternativeBlocks[] = {32, 128};
constexpr int kMmaKeys = 16;                ///< a 16-bit MMA accumulator rounds every k-step
constexpr double kDecisiveZ = 4;            ///< the difference test's threshold (one-sided p ~ 3e-5)
constexpr int64_t kDecisiveElements = 16;   ///< and the fewest elements it decides on
constexpr int64_t kScoreBudget = int64_t{1} << 23;  ///< scores the evaluator keeps (64 MiB of doubles)

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (!(sxx > 0) || !(syy > 0)) return 0;
  return sxy / std::sqrt(sxx * syy);
}

double rms(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v * v;
  return x.empty() ? 0 : std::sqrt(s / static_cast<double>(x.size()));
}

double rms_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return a.empty() ? 0 : std::sqrt(s / static_cast<double>(a.size()));
}

// The fit. A hypothesis that replays the kernel's roundings has correlation ~1; one that makes
// errors of the same kind in another order (another tiling, another summation) still has the
// kernel's error magnitude and per-row profile. fit = magnitude match x (correlation + row
// profile) / 2, with magnitude match = exp(-|ln rmse_ratio|) (1 at equal RMSEs, 1/2 at a factor 2).
double combined_fit(const HypothesisFit& f) {
  const double magnitude =
      std::isfinite(f.rmse_ratio) && f.rmse_ratio > 0 ? std::exp(-std::fabs(std::log(f.rmse_ratio))) : 0.0;
  return magnitude * std::max(0.0, 0.5 * f.correlation + 0.5 * f.profile_correlation);
}

/// The difference test of two hypotheses a and b (their errors; the observed error): on the
/// elements where their outputs differ, the one the observed output is closer to wins the
/// element (equal distance: nobody). A sign test: under "neither is the kernel" the wins split
/// evenly, so z = (wins_a - wins_b) / sqrt(wins_a + wins_b) is ~N(0, 1); a is decisively closer
/// when z >= kDecisiveZ over at least kDecisiveElements won elements.
struct Duel {
  int64_t wins_a = 0, wins_b = 0, differing = 0;
  double z() const {
    const int64_t n = wins_a + wins_b;
    return n ? static_cast<double>(wins_a - wins_b) / std::sqrt(static_cast<double>(n)) : 0.0;
  }
  bool decisive() const { return wins_a + wins_b >= kDecisiveElements && z() >= kDecisiveZ; }
};

Duel duel(const std::vector<double>& observed, const std::vector<double>& a, const std::vector<double>& b) {
  Duel d;
  for (size_t k = 0; k < observed.size(); ++k) {
    if (a[k] == b[k]) continue;
    ++d.differing;
    const double to_a = std::fabs(observed[k] - a[k]), to_b = std::fabs(observed[k] - b[k]);
    d.wins_a += to_a < to_b;
    d.wins_b += to_b < to_a;
  }
  return d;
}

/// Indices of `fits`, best fit first (stable: the family's order breaks ties).
std::vector<size_t> ranking(const std::vector<HypothesisFit>& fits) {
  std::vector<size_t> order(fits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return fits[a].fit > fits[b].fit; });
  return order;
}

std::string fixed(double x, int digits) {
  char buf[64];
  if (std::fabs(x) >= 100) std::snprintf(buf, sizeof buf, "%.0f", x);
  else std::snprintf(buf, sizeof buf, "%.*f", x >= 10 ? 1 : digits, x);
  return buf;
}

}  // namespace

const char* fingerprint_outcome_name(FingerprintOutcome o) {
  switch (o) {
    case FingerprintOutcome::healthy: return "healthy";
    case FingerprintOutcome::precision: return "precision";
    case FingerprintOutcome::unexplained: return "unexplained";
  }
  return "?";
}

PrecisionFingerprint fingerprint_precision(const Problem& problem, const AttentionInputs& inputs,
                                           const Tensor<double>& output, DType out_dtype,
                                           const FingerprintOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (output.shape() != problem.q_shape())
    throw ProblemError("output o has shape " + shape_string(output.shape()) + ", the problem needs " +
                       shape_string(problem.q_shape()));
  validate_inputs(problem, inputs);
  // Memory: the evaluator keeps each sampled row's scores; rows per head shrink so that at most
  // kScoreBudget scores are kept (a decode problem over a 128k cache keeps every head's one row).
  int64_t keys = 0;
  for (int64_t b = 0; b < problem.batch; ++b) keys = std::max(keys, problem.keys_in_batch(b));
  const int64_t heads = problem.batch * problem.num_heads_q;
  const int64_t affordable = kScoreBudget / std::max<int64_t>(1, heads * std::max<int64_t>(1, keys));
  const int64_t rows_per_head = std::max<int64_t>(2, std::min(options.max_rows_per_head, affordable));
  const HypothesisEvaluator evaluator(problem, inputs, sample_query_rows(problem, rows_per_head), out_dtype,
                                      options.threads);
  const std::vector<QueryRow>& rows = evaluator.rows();
  const int64_t R = static_cast<int64_t>(rows.size()), D = problem.head_dim;
  const Tensor<double>& truth = evaluator.truth();
  const FloatFormat& out_format = format_of(out_dtype);

  // Observed error and the rounding floor, element by element (row-major over sampled rows).
  std::vector<double> observed_error(static_cast<size_t>(R * D)), floor_error(static_cast<size_t>(R * D));
  for (int64_t r = 0; r < R; ++r) {
    const QueryRow& q = rows[static_cast<size_t>(r)];
    for (int64_t d = 0; d < D; ++d) {
      const double t = truth(r, d), o = output(q.batch, q.row, q.head, d);
      if (!std::isfinite(o)) throw NonFiniteError("output o has a non-finite value at row " + std::to_string(q.row));
      observed_error[static_cast<size_t>(r * D + d)] = o - t;
      floor_error[static_cast<size_t>(r * D + d)] = round_to_format(t, out_format) - t;
    }
  }
  const double floor_rmse = std::max(rms(floor_error), std::numeric_limits<double>::min());
  auto row_rmse = [&](const std::vector<double>& e) {
    std::vector<double> per_row(static_cast<size_t>(R));
    for (int64_t r = 0; r < R; ++r) {
      double s = 0;
      for (int64_t d = 0; d < D; ++d) s += e[static_cast<size_t>(r * D + d)] * e[static_cast<size_t>(r * D + d)];
      per_row[static_cast<size_t>(r)] = std::sqrt(s / static_cast<double>(D));
    }
    return per_row;
  };
  const std::vector<double> observed_rows = row_rmse(observed_error);
  const double observed_rmse = rms(observed_error);

  PrecisionFingerprint fp;
  fp.rows_sampled = R;
  fp.rows_total = problem.batch * problem.num_heads_q * problem.seqlen_q;
  fp.observed_excess = observed_rmse / floor_rmse;

  // Scores one hypothesis: its fit and its error vector (kept for the separations below).
  auto score = [&](const PrecisionHypothesis& h, std::vector<double>& error) {
    const Tensor<double> out = evaluator.run(h);
    error.assign(static_cast<size_t>(R * D), 0.0);
    double diff2 = 0;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t d = 0; d < D; ++d) {
        const size_t k = static_cast<size_t>(r * D + d);
        error[k] = out(r, d) - truth(r, d);
        diff2 += (observed_error[k] - error[k]) * (observed_error[k] - error[k]);
      }
    HypothesisFit f;
    f.name = h.name;
    f.label = h.label;
    f.numerics = h.describe();
    f.signature = h.precision_signature();
    f.healthy = h.healthy;
    const double h_rmse = rms(error);
    f.excess = h_rmse / floor_rmse;
    f.correlation = pearson(observed_error, error);
    f.rmse_ratio = h_rmse > 0 ? observed_rmse / h_rmse : std::numeric_limits<double>::infinity();
    f.profile_correlation = pearson(observed_rows, row_rmse(error));
    if (h_rmse == 0 && observed_rmse == 0) {  // both exact (e.g. V = 0): a perfect fit, not 0/0
      f.correlation = f.profile_correlation = 1;
      f.rmse_ratio = 1;
    }
    f.mismatch = std::sqrt(diff2 / static_cast<double>(std::max<int64_t>(1, R * D))) / floor_rmse;
    f.fit = combined_fit(f);
    return f;
  };

  std::vector<PrecisionHypothesis> family = precision_hypotheses(problem.dtype);
  std::vector<std::vector<double>> errors(family.size());
  for (size_t i = 0; i < family.size(); ++i) fp.fits.push_back(score(family[i], errors[i]));
  // The tile width is fitted, not assumed: the best few online hypotheses whose width is open
  // (and any other within kRefineMargin of the best fit) are re-run with other KV block widths
  // (a different tiling changes the running max each P is taken against, and so which way P
  // rounds, and the rows an FP16 rescale factor touches); a better fit replaces the hypothesis.
  // (An alpha fp16 plant with 128-key tiles fits 0.91 at the default 64 behind FA2-style at 128
  // and two FP32-level twins: without the margin it was never re-run at 128, and lost.)
  std::vector<size_t> order = ranking(fp.fits);
  const double best_unrefined = fp.fits[order.front()].fit;
  size_t refined = 0;
  for (const size_t i : order) {
    // (The 16-bit accumulators across blocks come in 64 and 128 already: their names say it.)
    const bool block_named = family[i].accumulator != &kFp32 && family[i].accumulate_keys == family[i].block_n;
    if (family[i].form != SoftmaxForm::online || block_named) continue;
    if (refined >= kRefinedHypotheses && fp.fits[i].fit < best_unrefined - kRefineMargin) break;
    ++refined;
    for (int block : kAlternativeBlocks) {
      PrecisionHypothesis variant = family[i];
      variant.block_n = block;
      if (variant.accumulate_keys > kMmaKeys) variant.accumulate_keys = block;
      std::vector<double> error;
      HypothesisFit f = score(variant, error);
      if (f.fit > fp.fits[i].fit) {
        fp.fits[i] = f;
        family[i] = variant;
        errors[i] = std::move(error);
      }
    }
  }
  order = ranking(fp.fits);
  const size_t best_index = order.front();
  const HypothesisFit best = fp.fits[best_index];
  // Hypotheses the input cannot separate from the best: their outputs differ from the best's by
  // no more than the observed output differs from it (or they fit as well).
  std::vector<bool> tied(family.size(), false);
  tied[best_index] = true;
  const double noise = std::max(best.mismatch, kMinSeparation);
  for (size_t i : order) {
    if (i == best_index) continue;
    const double separation = rms_difference(errors[i], errors[best_index]) / floor_rmse;
    tied[i] = separation <= noise || fp.fits[i].fit >= best.fit - kFitTie;
  }
  // The difference test settles ties the statistics above cannot: when two tied hypotheses
  // differ in a few elements (an FP16 rescale factor changes the rows whose running max grew,
  // after the tile where it grew), correlation and RMSE saturate near 1 for both; on the
  // elements where their outputs differ, the observed output sits on one side. A tied
  // hypothesis that loses decisively to another tied one of a different precision signature is
  // separated (not indistinguishable). Hypotheses of one signature (exp vs ex2.approx, online vs
  // two-pass) differ at FP32 level, where the evaluator's exact products and a kernel's own
  // products differ as much: the test does not judge between them (on the grid it preferred
  // natural exp for plants made with ex2.approx).
  std::vector<bool> beaten(family.size(), false);
  for (size_t i : order)
    for (size_t j : order) {
      if (i == j || !tied[i] || !tied[j] || beaten[j] || fp.fits[i].signature == fp.fits[j].signature) continue;
      const Duel d = duel(observed_error, errors[i], errors[j]);
      if (d.decisive()) {
        beaten[j] = true;
        fp.separations.push_back(fp.fits[i].label + " over " + fp.fits[j].label + ": closer in " +
                                 std::to_string(d.wins_a) + " of the " + std::to_string(d.differing) +
                                 " elements where they differ, farther in " + std::to_string(d.wins_b));
      }
    }
  bool any_standing = false;
  for (size_t i = 0; i < family.size(); ++i) any_standing = any_standing || (tied[i] && !beaten[i]);
  if (!any_standing) std::fill(beaten.begin(), beaten.end(), false);  // a cycle: the test decides nothing
  std::vector<bool> standing(family.size());
  for (size_t i = 0; i < family.size(); ++i) standing[i] = tied[i] && !beaten[i];
  // Healthy numerics win a tie (a correct kernel is never called a precision defect), and among
  // tied healthy hypotheses the family's first (FA2-style before its FP32-level variants). A
  // defect is named only when it is the best fit or has beaten every tied healthy hypothesis.
  size_t named = best_index;
  for (size_t i : order)
    if (standing[i]) {
      named = i;
      break;
    }
  for (size_t i = 0; i < family.size(); ++i)
    if (standing[i] && fp.fits[i].healthy) {
      named = i;
      break;
    }
  for (size_t i : order)
    if (standing[i] && i != named) fp.indistinguishable.push_back(fp.fits[i].name);
  const HypothesisFit& verdict = fp.fits[named];
  fp.named_hypothesis = family[named];
  const size_t next_index = order.size() > 1 ? (order[0] == named ? order[1] : order[0]) : named;
  const HypothesisFit& next = fp.fits[next_index];
  fp.label = verdict.label;
  if (best.fit < kFitExplains) {
    fp.outcome = FingerprintOutcome::unexplained;
    fp.label = "unexplained";
    fp.summary = "precision: no candidate numerics explains the error (excess " + fixed(fp.observed_excess, 2) +
                 "; closest: " + best.name + ", fit " + fixed(best.fit, 2) + ", correlation " +
                 fixed(best.correlation, 2) + ")";
  } else if (verdict.healthy) {
    fp.outcome = FingerprintOutcome::healthy;
    fp.summary = "precision consistent with " + verdict.name;
  } else {
    fp.outcome = FingerprintOutcome::precision;
    fp.summary = "precision: " + verdict.name + " (excess " + fixed(fp.observed_excess, 2) + "; this hypothesis: " +
                 fixed(verdict.excess, 2) + ", correlation " + fixed(verdict.correlation, 2) + "; next: " + next.name +
                 ", " + fixed(next.correlation, 2) + ")";
  }
  // Confidence is low when the input cannot settle the verdict's kind (a tie between healthy
  // numerics and a defect), when the fit is weak, or when only magnitude and profile match. Ties
  // within one kind (FA2-style with exp or exp2) leave it high; they are listed all the same.
  std::vector<std::string> doubts;
  for (size_t i : order)
    if (standing[i] && i != named && fp.fits[i].healthy != verdict.healthy) {
      doubts.push_back("cannot tell it from " + fp.fits[i].label + " on this input");
      break;
    }
  if (best.fit < kFitConfident) doubts.push_back("best fit only " + fixed(best.fit, 2));
  if (best.fit >= kFitExplains && best.correlation < kReplayCorrelation)
    doubts.push_back("the kernel's roundings are not replayed (correlation " + fixed(best.correlation, 2) +
                     "): magnitude and row profile only");
  fp.confidence = doubts.empty() ? "high" : "low: ";
  for (size_t i = 0; i < doubts.size(); ++i) fp.confidence += (i ? "; " : "") + doubts[i];
  // Best first, the named verdict at the top when a healthy tie replaced the best.
  std::vector<HypothesisFit> sorted{fp.fits[named]};
  for (size_t i : order)
    if (i != named) sorted.push_back(fp.fits[i]);
  fp.fits = sorted;
  fp.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return fp;
}

nlohmann::json fingerprint_json(const PrecisionFingerprint& fp, bool every_hypothesis) {
  auto fit_json = [](const HypothesisFit& f) {
    return nlohmann::json{{"name", f.name}, {"label", f.label}, {"numerics", f.numerics},
                          {"signature", f.signature}, {"healthy", f.healthy},
                          {"fit", f.fit}, {"excess", f.excess}, {"correlation", f.correlation},
                          {"rmse_ratio", f.rmse_ratio}, {"profile_correlation", f.profile_correlation},
                          {"mismatch", f.mismatch}};
  };
  nlohmann::json j{{"outcome", fingerprint_outcome_name(fp.outcome)}, {"summary", fp.summary}, {"label", fp.label},
                   {"observed_excess", fp.observed_excess}, {"confidence", fp.confidence},
                   {"indistinguishable", fp.indistinguishable}, {"separations", fp.separations},
                   {"rows_sampled", fp.rows_sampled},
                   {"seconds", fp.seconds}};
  if (every_hypothesis) {
    nlohmann::json fits = nlohmann::json::array();
    for (const HypothesisFit& f : fp.fits) fits.push_back(fit_json(f));
    j["hypotheses"] = fits;
  } else if (!fp.fits.empty()) {
    j["best"] = fit_json(fp.fits.front());
  }
  return j;
}

bool wants_numerics_column(const KernelInfo& info) { return info.family == "external" || info.family == "peer"; }

nlohmann::json numerics_column(const Problem& problem, const AttentionInputs& inputs, const AttentionOutputs& out) {
  try {
    return fingerprint_json(fingerprint_precision(problem, inputs, out.o, out.out_dtype), false);
  } catch (const Error& e) {  // FP32/FP64 problems have no family; a non-finite output no numerics
    return {{"label", "n/a"}, {"why", e.what()}};
  }
}

}  // namespace attn
