// gate.h: the regression gate a CI system trusts. A TOML tolerance file holds rules (first match
// wins) that select results by kernel glob, dtype, sequence-length / cache-depth ranges, input
// distribution, mask, head dim and GQA ratio, and bound max_abs (= max_diff), rmse, ulp_max,
// the excess over the rounding floor and the FlashAttention rule factor (analysis/metrics.h
// fa_rule, the one definition). A ratchet compares every point with a stored baseline database,
// with an allowed regression per metric.
//
// It fails closed: no point gated, a point no rule matches (unless allowed), a rule that matches
// no point, an unknown sweep, a baseline that is missing or covers no point, an ERROR row, NaN/Inf
// in an output — each is a failure, never a pass. Expectations: `expect = "fail"` is a mutant
// (the kernel must fail at some point matched by a fail rule, any of them: its planted bug is
// caught); `expect = "xfail"` with a
// `reason` is a known failure, strict as in pytest (a point that passes is XPASS, a failure).
// It says what it checked (rows, rules, kernels, baseline coverage) and writes JUnit XML.
// What it is not: a runner (sweep_runner) or a report (reports/).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "experiments/results_db.h"

namespace attn {

/// Integers a rule selects: a union of inclusive ranges (a single value is a range of one).
struct IntSelector {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  bool matches(int64_t value) const;
  std::string text() const;  ///< "1..64, 128"
};

enum class Expect { pass, fail, xfail };

struct GateRule {
  std::string where;                       ///< "file.toml rule 2": names the rule in messages
  std::vector<std::string> kernels{"*"};   ///< globs over kernel names (any may match)
  std::vector<std::string> dtypes;         ///< empty: any
  std::vector<std::string> distributions;  ///< globs; empty: any
  std::vector<std::string> masks;          ///< globs; empty: any
  std::optional<IntSelector> seqlen_q, seqlen_k, cache_depth, head_dim, gqa_ratio;
  std::optional<double> max_abs;   ///< max |O - truth| (max_diff)
  std::optional<double> rmse;
  std::optional<double> ulp_max;
  std::optional<double> excess;    ///< rmse / rounding-floor rmse
  std::optional<double> fa_rule;   ///< factor k of the FlashAttention rule
  Expect expect = Expect::pass;
  std::string reason;              ///< required for xfail
  std::string describe() const;    ///< the selection, e.g. kernels=["*mutant*"] dtype=["fp16"] seqlen_q=1..64
};

struct GateSpec {
  std::vector<GateRule> rules;
  std::optional<std::string> baseline_db;   ///< ratchet against this database (read-only)
  /// metric -> allowed factor over the baseline's value (max_abs, mean_abs, rmse, rel_fro,
  /// ulp_max, excess); 1.10 on max_abs when a baseline is named and nothing is said.
  std::map<std::string, double> ratchet;
  std::string origin;                       ///< the tolerance file
};

enum class GateOutcome {
  passed,
  failed,      ///< a bound violated
  xfailed,     ///< expected failure that failed (counted, not a failure)
  xpassed,     ///< expected failure that passed: strict, a failure
  caught,      ///< a mutant that failed at some point (aggregated per kernel and rule)
  not_caught,  ///< a mutant that passed everywhere: a failure
  unchecked,   ///< no rule matches: a failure unless allowed
  invalid,     ///< the kernel cannot run the point (not gated, reported as skipped)
  error,       ///< the run failed (always a failure)
  problem,     ///< the gate itself could not vouch (nothing gated, missing baseline, ...)
};
const char* outcome_name(GateOutcome o);

struct GateCase {
  std::string name;        ///< point key (or "<kernel> (mutant)", or the problem)
  std::string kernel;
  GateOutcome outcome = GateOutcome::passed;
  std::string message;     ///< violated bounds with values, the reason, the invalid/error text
  int rule = -1;           ///< index of the rule that matched
  double seconds = 0;      ///< the point's run time (from its provenance), 0 when unknown
};

struct RuleUsage {
  int points = 0;
  std::map<std::string, int> kernels;  ///< kernel -> points matched
};

struct GateOptions {
  std::optional<std::string> sweep;  ///< only this sweep (must exist)
  bool allow_unchecked = false;      ///< points no rule matches are reported, not failed
};

struct GateResult {
  std::vector<GateCase> cases;
  int rows = 0, gated = 0;
  int passed = 0, failed = 0, xfailed = 0, xpassed = 0, caught = 0, not_caught = 0;
  int unchecked = 0, invalid = 0, errors = 0, problems = 0;
  std::vector<RuleUsage> rule_usage;   ///< per rule, in file order
  std::vector<std::string> sweeps;     ///< sweeps gated
  std::optional<std::string> baseline; ///< baseline path when named
  int baseline_covered = 0;            ///< gated points present in the baseline
  bool allow_unchecked = false;
  bool ok() const;
};

/// Parses a tolerance file. Throws attn::Error naming the file, the rule and the key: invalid
/// TOML, an unknown key, a key of the wrong type, an unknown dtype / distribution / mask /
/// metric, a rule without a bound, xfail without a reason.
GateSpec parse_gate_spec(const std::string& path);
GateSpec parse_gate_spec_text(const std::string& toml_text, const std::string& origin = "<string>");

GateResult run_gate(const ResultsDb& db, const GateSpec& spec, const GateOptions& options = {});

/// The human summary: what was checked (rows, rules with points and kernels, baseline
/// coverage), every failure, and the verdict line.
std::string gate_summary(const GateResult& result, const GateSpec& spec);

/// JUnit XML: one testsuite "attnscope-gate" with `time` and <properties> (`properties`, e.g.
/// commit, GPU, spec hash); one testcase per case: failures as <failure>, run errors as <error>,
/// invalid points and xfails as <skipped>.
std::string to_junit_xml(const GateResult& result, const std::map<std::string, std::string>& properties = {},
                         double seconds = 0);

/// Provenance of the gated rows for JUnit properties: distinct commits, GPUs and spec hashes.
std::map<std::string, std::string> gate_properties(const ResultsDb& db, const GateOptions& options);

}  // namespace attn
