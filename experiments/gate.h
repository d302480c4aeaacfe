// gate.h: the regression gate a CI system trusts. A TOML tolerance file holds rules (first
// match wins) selecting results by kernel glob and optional dtype; each rule bounds max_abs
// (max_diff), the FlashAttention rule factor k (kernel max_abs <= k x baseline + 1e-5), the
// max ULP error and the excess over the rounding floor, and may ratchet against a stored
// baseline database. Rules with expect = "fail" are for mutants: the gate passes only if the
// mutant fails somewhere (its bug was caught). ERROR rows fail; unmatched rows are reported as
// unchecked, never as passes. Output: a summary, JUnit XML, and the exit status.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "experiments/results_db.h"

namespace attn {

struct GateRule {
  std::string kernels = "*";          ///< glob over kernel names
  std::optional<std::string> dtype;   ///< only rows of this dtype
  std::optional<double> max_abs;
  std::optional<double> fa_rule;      ///< factor k of the FlashAttention rule
  std::optional<double> ulp_max;
  std::optional<double> excess_max;
  bool expect_fail = false;           ///< mutant: must fail at least one point
};

struct GateSpec {
  std::vector<GateRule> rules;
  std::optional<std::string> baseline_db;  ///< ratchet: max_abs may not exceed baseline x slack
  double ratchet_slack = 1.10;
};

struct GateCase {
  std::string name;       ///< point key (or kernel for mutant rules)
  std::string kernel;
  bool passed = false;
  bool unchecked = false; ///< no rule matched
  std::string failure;    ///< every violated bound, with values
};

struct GateResult {
  std::vector<GateCase> cases;
  int passed = 0, failed = 0, unchecked = 0, invalid = 0;
  bool ok() const { return failed == 0; }
};

GateSpec parse_gate_spec(const std::string& path);
GateSpec parse_gate_spec_text(const std::string& toml_text, const std::string& origin = "<string>");
GateResult run_gate(const ResultsDb& db, const std::optional<std::string>& sweep, const GateSpec& spec);
/// JUnit XML (one testsuite "attnscope-gate", one testcase per case; unchecked ones as skipped).
std::string to_junit_xml(const GateResult& result);

}  // namespace attn
