#include "experiments/gate.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>

#include "analysis/metrics.h"
#include "core/errors.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "core/io_files.h"
#include "core/markup.h"
#include "core/problem.h"
#include "core/registry.h"
#include "experiments/toml_input.h"

namespace attn {
namespace {

constexpr uint64_t kMaxToleranceFileBytes = 1u << 20;  // a tolerance file is a page of text
/// Metrics a ratchet may compare: kernel metrics by name, plus the excess over the floor.
const char* const kRatchetMetrics[] = {"max_abs", "mean_abs", "rmse", "rel_fro", "ulp_max", "excess"};
constexpr double kDefaultRatchetFactor = 1.10;

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", x);
  return buf;
}

bool has_wildcard(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// ---- tolerance-file parsing -------------------------------------------------------------------

/// The node of `key` or of its alias (error when both are given).
const toml::node* either(const toml::table& t, const char* key, const char* alias, const std::string& where) {
  const toml::node* a = t.get(key);
  const toml::node* b = alias ? t.get(alias) : nullptr;
  if (a && b) throw Error(where + ": give '" + key + "' or '" + alias + "', not both");
  return a ? a : b;
}

/// A string or an array of strings (the same shape the sweep specs use), never empty.
std::vector<std::string> strings(const toml::node& node, const std::string& key, const std::string& where) {
  std::vector<std::string> out;
  if (auto s = node.value<std::string>()) {
    out.push_back(*s);
  } else if (const toml::array* arr = node.as_array()) {
    for (const toml::node& el : *arr) {
      if (!el.is_string()) throw Error(where + ": '" + key + "' must be a string or an array of strings");
      out.push_back(*el.value<std::string>());
    }
  } else {
    throw Error(where + ": '" + key + "' must be a string or an array of strings");
  }
  if (out.empty()) throw Error(where + ": '" + key + "' is an empty array (it would select nothing)");
  for (const std::string& s : out)
    if (s.empty()) throw Error(where + ": '" + key + "' has an empty string");
  return out;
}

std::pair<int64_t, int64_t> parse_range(const std::string& text, const std::string& key, const std::string& where) {
  auto bad = [&] {
    return Error(where + ": '" + key + "' entry \"" + text + "\" is not an integer or a range \"LO..HI\" (\"LO..\", \"..HI\")");
  };
  auto number = [&](const std::string& part, int64_t fallback) {
    if (part.empty()) return fallback;
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      throw bad();
    }
    if (used != part.size() || part[0] == ' ' || part[0] == '+') throw bad();
    return v;
  };
  const auto dots = text.find("..");
  if (dots == std::string::npos) {
    const int64_t v = number(text, 0);
    if (text.empty()) throw bad();
    return {v, v};
  }
  const std::string lo = text.substr(0, dots), hi = text.substr(dots + 2);
  if (lo.empty() && hi.empty()) throw bad();
  const auto range = std::make_pair(number(lo, std::numeric_limits<int64_t>::min()),
                                    number(hi, std::numeric_limits<int64_t>::max()));
  if (range.first > range.second) throw Error(where + ": '" + key + "' range \"" + text + "\" is empty (LO > HI)");
  return range;
}

/// An integer, a range string "LO..HI", or an array of those.
IntSelector int_selector(const toml::node& node, const std::string& key, const std::string& where) {
  IntSelector sel;
  auto one = [&](const toml::node& n) {
    if (n.is_integer()) {
      const int64_t v = *n.value<int64_t>();
      sel.ranges.emplace_back(v, v);
    } else if (n.is_string()) {
      sel.ranges.push_back(parse_range(*n.value<std::string>(), key, where));
    } else {
      throw Error(where + ": '" + key + "' must be an integer, a range string \"LO..HI\" or an array of those");
    }
  };
  if (const toml::array* arr = node.as_array()) {
    for (const toml::node& el : *arr) one(el);
    if (sel.ranges.empty()) throw Error(where + ": '" + key + "' is an empty array (it would select nothing)");
  } else {
    one(node);
  }
  return sel;
}

std::optional<double> bound(const toml::table& t, const char* key, const char* alias, const std::string& where) {
  const toml::node* n = either(t, key, alias, where);
  if (!n) return std::nullopt;
  if (!n->is_number()) throw Error(where + ": '" + key + "' must be a number");
  const double v = *n->value<double>();
  if (!(v >= 0)) throw Error(where + ": '" + key + "' must be a non-negative number, got " + fmt(v));
  return v;
}

void reject_unknown(const toml::table& t, std::initializer_list<const char*> known, const std::string& where) {
  for (const auto& [k, _] : t) {
    bool ok = false;
    for (const char* name : known) ok = ok || k.str() == name;
    if (!ok) {
      std::string list;
      for (const char* name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      throw Error(where + ": unknown key '" + std::string(k.str()) + "' (allowed: " + list + ")");
    }
  }
}

GateRule parse_rule(const toml::table& t, const std::string& where) {
  reject_unknown(t,
                 {"kernels", "dtype", "dtypes", "distribution", "distributions", "mask", "masks", "seqlen_q",
                  "seqlen_k", "cache_depth", "head_dim", "gqa_ratio", "max_abs", "max_diff", "rmse", "ulp_max",
                  "excess", "excess_max", "fa_rule", "expect", "reason"},
                 where);
  GateRule r;
  r.where = where;
  if (const toml::node* n = t.get("kernels")) r.kernels = strings(*n, "kernels", where);
  // Names are checked against their parser (globs are left to match): a typo is an error.
  auto names = [&](const char* key, const char* alias, bool globs, auto parse) {
    std::vector<std::string> out;
    if (const toml::node* n = either(t, key, alias, where)) {
      out = strings(*n, key, where);
      for (const std::string& name : out) {
        if (globs && has_wildcard(name)) continue;
        try {
          (void)parse(name);
        } catch (const Error& e) {
          throw Error(where + ": '" + key + "': " + e.what());
        }
      }
    }
    return out;
  };
  r.dtypes = names("dtype", "dtypes", false, [](const std::string& x) { return parse_dtype(x); });
  r.distributions = names("distribution", "distributions", true, [](const std::string& x) { return parse_distribution(x); });
  r.masks = names("mask", "masks", true, [](const std::string& x) { return parse_mask(x); });
  const std::pair<const char*, std::optional<IntSelector>*> selectors[] = {
      {"seqlen_q", &r.seqlen_q}, {"seqlen_k", &r.seqlen_k}, {"cache_depth", &r.cache_depth},
      {"head_dim", &r.head_dim}, {"gqa_ratio", &r.gqa_ratio}};
  for (const auto& [key, target] : selectors)
    if (const toml::node* n = t.get(key)) *target = int_selector(*n, key, where);
  r.max_abs = bound(t, "max_abs", "max_diff", where);
  r.rmse = bound(t, "rmse", nullptr, where);
  r.ulp_max = bound(t, "ulp_max", nullptr, where);
  r.excess = bound(t, "excess", "excess_max", where);
  r.fa_rule = bound(t, "fa_rule", nullptr, where);
  if (r.fa_rule && !(*r.fa_rule > 0)) throw Error(where + ": 'fa_rule' (the factor k) must be positive");
  if (const toml::node* n = t.get("expect")) {
    const std::optional<std::string> e = n->value<std::string>();
    if (!n->is_string() || (*e != "pass" && *e != "fail" && *e != "xfail"))
      throw Error(where + ": 'expect' must be \"pass\", \"fail\" (a mutant: must fail somewhere) or \"xfail\" "
                          "(a known failure, with a reason)");
    r.expect = *e == "fail" ? Expect::fail : *e == "xfail" ? Expect::xfail : Expect::pass;
  }
  if (const toml::node* n = t.get("reason")) {
    if (!n->is_string()) throw Error(where + ": 'reason' must be a string");
    r.reason = *n->value<std::string>();
  }
  if (r.expect == Expect::xfail && r.reason.find_first_not_of(" \t") == std::string::npos)
    throw Error(where + ": expect = \"xfail\" needs a 'reason' (why the failure is expected, e.g. an issue)");
  if (!r.max_abs && !r.rmse && !r.ulp_max && !r.excess && !r.fa_rule)
    throw Error(where + ": a rule needs at least one bound (max_abs, rmse, ulp_max, excess, fa_rule)");
  return r;
}

// ---- evaluation -----------------------------------------------------------------------------------

double number_at(const nlohmann::json& m, const char* a, const char* b = nullptr) {
  if (!m.is_object() || !m.contains(a)) return NAN;
  const nlohmann::json& x = b ? (m[a].is_object() && m[a].contains(b) ? m[a][b] : nlohmann::json()) : m[a];
  return x.is_number() ? x.get<double>() : NAN;
}

/// A metric of a row by its ratchet/bound name. A null excess (the truth exactly representable
/// and the kernel still missed it) is infinite.
double row_metric(const nlohmann::json& m, const std::string& name) {
  if (name == "excess") {
    if (m.is_object() && m.contains("excess") && m["excess"].is_null()) return INFINITY;
    return number_at(m, "excess");
  }
  return number_at(m, "kernel", name.c_str());
}

bool matches_any(const std::vector<std::string>& globs, const std::string& value) {
  for (const std::string& g : globs)
    if (glob_match(g, value)) return true;
  return false;
}

bool int_field_matches(const std::optional<IntSelector>& sel, const nlohmann::json& config, const char* field) {
  if (!sel) return true;
  if (!config.is_object() || !config.contains(field) || !config[field].is_number_integer()) return false;
  return sel->matches(config[field].get<int64_t>());
}

bool rule_matches(const GateRule& rule, const ResultRow& row) {
  const nlohmann::json& c = row.config;
  auto text = [&](const char* field) {
    return c.is_object() && c.contains(field) && c[field].is_string() ? c[field].get<std::string>() : std::string();
  };
  if (!matches_any(rule.kernels, row.kernel)) return false;
  if (!rule.dtypes.empty() && !matches_any(rule.dtypes, text("dtype"))) return false;
  if (!rule.distributions.empty() && !matches_any(rule.distributions, text("distribution"))) return false;
  if (!rule.masks.empty() && !matches_any(rule.masks, text("mask"))) return false;
  return int_field_matches(rule.seqlen_q, c, "seqlen_q") && int_field_matches(rule.seqlen_k, c, "seqlen_k") &&
         int_field_matches(rule.cache_depth, c, "cache_depth") && int_field_matches(rule.head_dim, c, "head_dim") &&
         int_field_matches(rule.gqa_ratio, c, "gqa_ratio");
}

/// Every violated bound of `rule` (and the ratchet) at one OK row, "; "-separated; empty = pass.
std::string violations(const GateRule& rule, const nlohmann::json& m, const nlohmann::json* baseline,
                       const std::map<std::string, double>& ratchet) {
  std::string why;
  auto check = [&](const char* what, double value, std::optional<double> limit) {
    if (limit && !(value <= *limit)) why += std::string(what) + " " + fmt(value) + " > " + fmt(*limit) + "; ";
  };
  const double max_abs = row_metric(m, "max_abs");
  check("max_abs", max_abs, rule.max_abs);
  check("rmse", row_metric(m, "rmse"), rule.rmse);
  check("ulp_max", row_metric(m, "ulp_max"), rule.ulp_max);
  check("excess", row_metric(m, "excess"), rule.excess);
  const double nan_inf = number_at(m, "kernel", "nan_count") + number_at(m, "kernel", "inf_count");
  if (!(nan_inf == 0)) why += std::isnan(nan_inf) ? "NaN/Inf counts missing; " : "NaN/Inf in output: " + fmt(nan_inf) + "; ";
  if (rule.fa_rule) {
    const double base = number_at(m, "baseline", "max_abs");
    if (std::isnan(base)) {
      why += "FA rule: no same-precision baseline for this point; ";
    } else {
      const FaRuleVerdict v = fa_rule(max_abs, base, nan_inf == 0, FaRule{*rule.fa_rule, kDefaultFaRule.slack});
      if (!v.pass) why += "FA rule: max_abs " + fmt(max_abs) + " > bound " + fmt(v.bound) + " (ratio " + fmt(v.ratio) + "); ";
    }
  }
  if (baseline)
    for (const auto& [metric, factor] : ratchet) {
      const double now = row_metric(m, metric), before = row_metric(*baseline, metric);
      if (!(now <= before * factor))
        why += "ratchet: " + metric + " " + fmt(now) + " > baseline " + fmt(before) + " x " + fmt(factor) + "; ";
    }
  if (!why.empty()) why.resize(why.size() - 2);
  return why;
}

std::string xml_escape(const std::string& raw) { return markup_escape(raw); }

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

bool IntSelector::matches(int64_t value) const {
  for (const auto& [lo, hi] : ranges)
    if (value >= lo && value <= hi) return true;
  return false;
}

std::string IntSelector::text() const {
  std::vector<std::string> parts;
  for (const auto& [lo, hi] : ranges) {
    if (lo == hi) parts.push_back(std::to_string(lo));
    else
      parts.push_back((lo == std::numeric_limits<int64_t>::min() ? "" : std::to_string(lo)) + ".." +
                      (hi == std::numeric_limits<int64_t>::max() ? "" : std::to_string(hi)));
  }
  return join(parts, ",");
}

std::string GateRule::describe() const {
  auto list = [](const std::vector<std::string>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", \"" : "\"") + v[i] + "\"";
    return s + "]";
  };
  std::string s = "kernels=" + list(kernels);
  if (!dtypes.empty()) s += " dtype=" + list(dtypes);
  if (!distributions.empty()) s += " distribution=" + list(distributions);
  if (!masks.empty()) s += " mask=" + list(masks);
  const std::pair<const char*, const std::optional<IntSelector>*> sel[] = {
      {"seqlen_q", &seqlen_q}, {"seqlen_k", &seqlen_k}, {"cache_depth", &cache_depth},
      {"head_dim", &head_dim}, {"gqa_ratio", &gqa_ratio}};
  for (const auto& [name, v] : sel)
    if (*v) s += std::string(" ") + name + "=" + (*v)->text();
  if (expect == Expect::fail) s += " expect=fail";
  if (expect == Expect::xfail) s += " expect=xfail";
  return s;
}

const char* outcome_name(GateOutcome o) {
  switch (o) {
    case GateOutcome::passed: return "passed";
    case GateOutcome::failed: return "FAIL";
    case GateOutcome::xfailed: return "xfailed";
    case GateOutcome::xpassed: return "XPASS";
    case GateOutcome::caught: return "caught";
    case GateOutcome::not_caught: return "NOT CAUGHT";
    case GateOutcome::unchecked: return "UNCHECKED";
    case GateOutcome::invalid: return "invalid";
    case GateOutcome::error: return "ERROR";
    case GateOutcome::problem: return "GATE FAILED";
  }
  return "?";
}

bool GateResult::ok() const {
  return failed == 0 && xpassed == 0 && not_caught == 0 && errors == 0 && problems == 0 && gated > 0 &&
         (unchecked == 0 || allow_unchecked);
}

GateSpec parse_gate_spec_text(const std::string& text, const std::string& origin) {
  const toml::table root = parse_toml_input(text, origin, "tolerance file");
  const std::string file = "tolerance file '" + printable_path(origin) + "'";
  reject_unknown(root, {"gate", "rule"}, file);
  GateSpec spec;
  spec.origin = origin;
  if (const toml::node* g = root.get("gate")) {
    const toml::table* t = g->as_table();
    if (!t) throw Error(file + ": [gate] must be a table");
    const std::string where = file + " [gate]";
    reject_unknown(*t, {"baseline_db", "ratchet_slack", "ratchet"}, where);
    if (const toml::node* b = t->get("baseline_db")) {
      if (!b->is_string() || b->value_or<std::string>("").empty())
        throw Error(where + ": 'baseline_db' must be a non-empty string (a path)");
      spec.baseline_db = *b->value<std::string>();
    }
    if (t->get("ratchet_slack") && t->get("ratchet"))
      throw Error(where + ": give 'ratchet_slack' (max_abs only) or a [gate.ratchet] table, not both");
    if (auto slack = bound(*t, "ratchet_slack", nullptr, where)) spec.ratchet["max_abs"] = *slack;
    if (const toml::node* r = t->get("ratchet")) {
      const toml::table* rt = r->as_table();
      if (!rt) throw Error(where + ": 'ratchet' must be a table of metric = allowed factor");
      reject_unknown(*rt, {"max_abs", "mean_abs", "rmse", "rel_fro", "ulp_max", "excess"}, where + " ratchet");
      for (const char* metric : kRatchetMetrics)
        if (auto f = bound(*rt, metric, nullptr, where + " ratchet")) spec.ratchet[metric] = *f;
      if (spec.ratchet.empty()) throw Error(where + ": [gate.ratchet] names no metric");
    }
    for (const auto& [metric, factor] : spec.ratchet)
      if (!(factor >= 1.0))
        throw Error(where + ": the allowed regression of '" + metric + "' must be a factor >= 1, got " + fmt(factor));
    if (!spec.ratchet.empty() && !spec.baseline_db)
      throw Error(where + ": a ratchet needs 'baseline_db' (the database it compares with)");
  }
  if (spec.baseline_db && spec.ratchet.empty()) spec.ratchet["max_abs"] = kDefaultRatchetFactor;
  const toml::node* rules = root.get("rule");
  if (!rules) throw Error(file + " has no [[rule]] entries");
  const toml::array* arr = rules->as_array();
  if (!arr || !arr->is_array_of_tables()) throw Error(file + ": 'rule' must be an array of tables ([[rule]])");
  int index = 0;
  for (const toml::node& node : *arr)
    spec.rules.push_back(parse_rule(*node.as_table(), file + " rule " + std::to_string(++index)));
  if (spec.rules.empty()) throw Error(file + " has no [[rule]] entries");
  return spec;
}

GateSpec parse_gate_spec(const std::string& path) {
  return parse_gate_spec_text(read_regular_file(path, kMaxToleranceFileBytes, "tolerance file"), path);
}

GateResult run_gate(const ResultsDb& db, const GateSpec& spec, const GateOptions& options) {
  GateResult result;
  result.allow_unchecked = options.allow_unchecked;
  result.rule_usage.resize(spec.rules.size());
  int problems = 0;
  auto problem = [&](const std::string& what) {
    result.cases.push_back({"gate problem " + std::to_string(++problems), "attnscope-gate", GateOutcome::problem, what, -1, 0});
  };

  const std::vector<std::string> sweeps = db.sweeps();
  if (options.sweep && std::find(sweeps.begin(), sweeps.end(), *options.sweep) == sweeps.end()) {
    problem("sweep '" + *options.sweep + "' is not in the database (it holds: " +
            (sweeps.empty() ? std::string("no sweep") : join(sweeps)) + ")");
  } else {
    result.sweeps = options.sweep ? std::vector<std::string>{*options.sweep} : sweeps;
  }

  std::map<std::string, nlohmann::json> baseline;  // "sweep|point" -> metrics of an OK baseline row
  bool baseline_loaded = false;
  if (spec.baseline_db) {
    result.baseline = *spec.baseline_db;
    try {
      const ResultsDb base(*spec.baseline_db, DbMode::read_only);
      for (const ResultRow& r : base.rows())
        if (r.status == "ok") baseline[r.sweep + "|" + r.point_key] = r.metrics;
      baseline_loaded = true;
    } catch (const Error& e) {
      problem(std::string("baseline: ") + e.what() + " (the ratchet cannot run)");
    }
  }

  struct Aggregate {  // a mutant (expect = "fail") over all its points, whichever fail-rule matched them
    int rule = -1, points = 0, failing = 0;
    std::string first_failure;
  };
  std::map<std::string, Aggregate> mutants;  // kernel -> its points
  for (const std::string& sweep : result.sweeps) {
    for (const ResultRow& r : db.rows(sweep)) {
      ++result.rows;
      GateCase c{r.point_key, r.kernel, GateOutcome::passed, "", -1, number_at(r.provenance, "point_seconds")};
      if (std::isnan(c.seconds)) c.seconds = 0;
      if (r.status == "invalid") {
        c.outcome = GateOutcome::invalid;
        c.message = r.message;
        result.cases.push_back(c);
        continue;
      }
      for (size_t i = 0; i < spec.rules.size() && c.rule < 0; ++i)
        if (rule_matches(spec.rules[i], r)) c.rule = static_cast<int>(i);
      if (c.rule >= 0) {
        RuleUsage& use = result.rule_usage[static_cast<size_t>(c.rule)];
        ++use.points;
        ++use.kernels[r.kernel];
      }
      if (r.status != "ok") {  // an ERROR row (or an unknown status) is never a pass
        c.outcome = GateOutcome::error;
        c.message = "run failed (" + r.status + "): " + r.message;
        result.cases.push_back(c);
        continue;
      }
      if (c.rule < 0) {
        c.outcome = GateOutcome::unchecked;
        c.message = "no tolerance rule matches this point";
        result.cases.push_back(c);
        continue;
      }
      ++result.gated;
      const GateRule& rule = spec.rules[static_cast<size_t>(c.rule)];
      const auto base = baseline.find(r.sweep + "|" + r.point_key);
      const nlohmann::json* base_metrics = base == baseline.end() ? nullptr : &base->second;
      if (base_metrics) ++result.baseline_covered;
      const std::string why = violations(rule, r.metrics, base_metrics, spec.ratchet);
      switch (rule.expect) {
        case Expect::pass:
          c.outcome = why.empty() ? GateOutcome::passed : GateOutcome::failed;
          c.message = why;
          break;
        case Expect::xfail:
          c.outcome = why.empty() ? GateOutcome::xpassed : GateOutcome::xfailed;
          c.message = why.empty() ? "XPASS(strict): expected to fail (" + rule.reason + ") but passed every bound"
                                  : "xfail (" + rule.reason + "): " + why;
          break;
        case Expect::fail: {
          Aggregate& agg = mutants[r.kernel];
          if (agg.rule < 0) agg.rule = c.rule;
          ++agg.points;
          if (!why.empty() && agg.failing++ == 0) agg.first_failure = r.point_key + ": " + why;
          continue;  // reported once per mutant, below
        }
      }
      result.cases.push_back(c);
    }
  }
  for (const auto& [kernel, agg] : mutants) {
    GateCase c{kernel + " (mutant must be caught)", kernel, GateOutcome::caught, "", agg.rule, 0};
    if (agg.failing > 0) {
      c.message = "caught at " + std::to_string(agg.failing) + " of " + std::to_string(agg.points) +
                  " points, e.g. " + agg.first_failure;
    } else {
      c.outcome = GateOutcome::not_caught;
      c.message = "not caught: passed every bound at all " + std::to_string(agg.points) + " points";
    }
    result.cases.push_back(c);
  }

  // Fail closed: the gate must have checked something, every rule must have had a use, and a
  // named baseline must cover something.
  if (!options.sweep || !result.sweeps.empty()) {
    if (result.rows == 0)
      problem("the database holds no results" + (options.sweep ? " of sweep '" + *options.sweep + "'" : std::string()) +
              ": nothing was gated");
    else if (result.gated == 0)
      problem("no point was gated (" + std::to_string(result.rows) + " rows, none OK and matched by a rule)");
    for (size_t i = 0; i < spec.rules.size(); ++i)
      if (result.rows > 0 && result.rule_usage[i].points == 0)
        problem(spec.rules[i].where + " (" + spec.rules[i].describe() +
                ") matched no point: a rule that checks nothing is a mistake (a typo in a glob?)");
    if (baseline_loaded && result.gated > 0 && result.baseline_covered == 0)
      problem("baseline '" + printable_path(*result.baseline) + "' (" + std::to_string(baseline.size()) +
              " OK rows) covers none of the " + std::to_string(result.gated) +
              " gated points (another sweep or spec?): the ratchet checked nothing");
  }

  for (const GateCase& c : result.cases) {
    switch (c.outcome) {
      case GateOutcome::passed: ++result.passed; break;
      case GateOutcome::failed: ++result.failed; break;
      case GateOutcome::xfailed: ++result.xfailed; break;
      case GateOutcome::xpassed: ++result.xpassed; break;
      case GateOutcome::caught: ++result.caught; break;
      case GateOutcome::not_caught: ++result.not_caught; break;
      case GateOutcome::unchecked: ++result.unchecked; break;
      case GateOutcome::invalid: ++result.invalid; break;
      case GateOutcome::error: ++result.errors; break;
      case GateOutcome::problem: ++result.problems; break;
    }
  }
  return result;
}

std::string gate_summary(const GateResult& r, const GateSpec& spec) {
  std::ostringstream s;
  s << "gate: tolerances " << printable_path(spec.origin) << ": " << spec.rules.size() << " rule(s); sweep(s) "
    << (r.sweeps.empty() ? std::string("none") : join(r.sweeps)) << "\n";
  s << "gate: " << r.rows << " rows: " << r.gated << " gated, " << r.invalid
    << " invalid (the kernel cannot run the point: not gated), " << r.errors << " run errors, " << r.unchecked
    << " matched no rule" << (r.unchecked && r.allow_unchecked ? " (allowed by --allow-unchecked)" : "") << "\n";
  for (size_t i = 0; i < spec.rules.size(); ++i) {
    const RuleUsage& u = r.rule_usage[i];
    s << "gate:   rule " << (i + 1) << " " << spec.rules[i].describe() << ": " << u.points << " points, "
      << u.kernels.size() << " kernel(s)\n";
  }
  if (r.baseline)
    s << "gate: baseline " << printable_path(*r.baseline) << " covers " << r.baseline_covered << " of " << r.gated
      << " gated points (ratchet " << [&] {
           std::string t;
           for (const auto& [m, f] : spec.ratchet) t += (t.empty() ? "" : ", ") + m + " x" + fmt(f);
           return t;
         }() << ")\n";
  else
    s << "gate: baseline: none (no ratchet)\n";
  for (const GateCase& c : r.cases) {
    const bool bad = c.outcome == GateOutcome::failed || c.outcome == GateOutcome::xpassed ||
                     c.outcome == GateOutcome::not_caught || c.outcome == GateOutcome::error ||
                     c.outcome == GateOutcome::problem || (c.outcome == GateOutcome::unchecked && !r.allow_unchecked);
    if (bad) s << outcome_name(c.outcome) << " " << printable_path(c.name) << ": " << printable_path(c.message) << "\n";
  }
  for (const GateCase& c : r.cases)
    if (c.outcome == GateOutcome::xfailed) s << "xfail " << printable_path(c.name) << ": " << printable_path(c.message) << "\n";
  s << "gate: " << r.passed << " passed, " << r.failed << " failed, " << r.xfailed << " xfailed, " << r.xpassed
    << " xpassed (strict: failures), " << r.caught << " of " << (r.caught + r.not_caught) << " mutants caught, "
    << r.errors << " errors, " << r.unchecked << " unchecked, " << r.problems << " gate problems -> "
    << (r.ok() ? "PASS" : "FAIL") << "\n";
  return s.str();
}

std::string to_junit_xml(const GateResult& r, const std::map<std::string, std::string>& properties, double seconds) {
  const int failures = r.failed + r.xpassed + r.not_caught + r.problems + (r.allow_unchecked ? 0 : r.unchecked);
  const int skipped = r.invalid + r.xfailed + (r.allow_unchecked ? r.unchecked : 0);
  std::ostringstream x;
  char time[32];
  std::snprintf(time, sizeof time, "%.3f", seconds);
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"attnscope-gate\" tests=\""
    << r.cases.size() << "\" failures=\"" << failures << "\" errors=\"" << r.errors << "\" skipped=\"" << skipped
    << "\" time=\"" << time << "\">\n  <properties>\n";
  for (const auto& [k, v] : properties)
    x << "    <property name=\"" << xml_escape(k) << "\" value=\"" << xml_escape(v) << "\"/>\n";
  x << "  </properties>\n";
  for (const GateCase& c : r.cases) {
    std::snprintf(time, sizeof time, "%.3f", c.seconds);
    x << "  <testcase classname=\"" << xml_escape(c.kernel) << "\" name=\"" << xml_escape(c.name) << "\" time=\""
      << time << "\"";
    const std::string msg = xml_escape(c.message);
    switch (c.outcome) {
      case GateOutcome::passed:
      case GateOutcome::caught: x << "/>\n"; continue;
      case GateOutcome::invalid: x << "><skipped message=\"invalid point: " << msg << "\"/>"; break;
      case GateOutcome::xfailed: x << "><skipped message=\"" << msg << "\"/>"; break;
      case GateOutcome::unchecked:
        x << (r.allow_unchecked ? "><skipped message=\"" : "><failure type=\"unchecked\" message=\"") << msg << "\"/>";
        break;
      case GateOutcome::error: x << "><error message=\"" << msg << "\"/>"; break;
      default: x << "><failure type=\"" << outcome_name(c.outcome) << "\" message=\"" << msg << "\"/>"; break;
    }
    x << "</testcase>\n";
  }
  x << "</testsuite>\n</testsuites>\n";
  return x.str();
}

std::map<std::string, std::string> gate_properties(const ResultsDb& db, const GateOptions& options) {
  std::set<std::string> commits, gpus, hashes;
  std::vector<std::string> sweeps = options.sweep ? std::vector<std::string>{*options.sweep} : db.sweeps();
  for (const std::string& sweep : sweeps) {
    if (const auto rec = db.sweep_record(sweep)) {
      hashes.insert(sweep + ":" + rec->spec_hash);
      commits.insert(rec->commit);
      for (const std::string& c : rec->stale_commits) commits.insert(c);
    }
    for (const ResultRow& row : db.rows(sweep)) {
      if (!row.provenance.is_object()) continue;
      if (row.provenance.contains("commit") && row.provenance["commit"].is_string())
        commits.insert(row.provenance["commit"].get<std::string>());
      if (row.provenance.contains("gpu") && row.provenance["gpu"].is_string())
        gpus.insert(row.provenance["gpu"].get<std::string>());
    }
  }
  auto joined = [](const std::set<std::string>& s) {
    std::string out;
    for (const std::string& v : s) out += (out.empty() ? "" : "; ") + v;
    return out.empty() ? std::string("unknown") : out;
  };
  return {{"commit", joined(commits)}, {"gpu", joined(gpus)}, {"spec_hash", joined(hashes)}};
}

}  // namespace attn
