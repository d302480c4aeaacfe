#include "experiments/gate.h"

#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/errors.h"
#include "core/registry.h"

namespace attn {
namespace {

std::optional<double> opt_number(const toml::table& t, const char* key, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto v = n->value<double>()) {
    if (!(*v >= 0)) throw Error(where + ": '" + key + "' must be a non-negative number");
    return *v;
  }
  throw Error(where + ": '" + key + "' must be a number");
}

double metric(const nlohmann::json& m, const char* a, const char* b = nullptr) {
  if (!m.contains(a)) return NAN;
  const nlohmann::json& x = b ? (m[a].contains(b) ? m[a][b] : nlohmann::json()) : m[a];
  return x.is_number() ? x.get<double>() : NAN;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fmt(double x) {
  std::ostringstream s;
  s.precision(4);
  s << x;
  return s.str();
}

}  // namespace

GateSpec parse_gate_spec_text(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "tolerance file '" << origin << "' is not valid TOML: " << e.description() << " (line "
        << e.source().begin.line << ")";
    throw Error(msg.str());
  }
  GateSpec spec;
  if (const toml::table* g = root["gate"].as_table()) {
    if (auto b = (*g)["baseline_db"].value<std::string>()) spec.baseline_db = *b;
    if (auto s = opt_number(*g, "ratchet_slack", origin + " [gate]")) spec.ratchet_slack = *s;
  }
  const toml::array* rules = root["rule"].as_array();
  if (!rules || rules->empty()) throw Error("tolerance file '" + origin + "' has no [[rule]] entries");
  int index = 0;
  for (const toml::node& node : *rules) {
    const std::string where = origin + " rule " + std::to_string(++index);
    const toml::table* t = node.as_table();
    if (!t) throw Error(where + " is not a table");
    for (const auto& [k, _] : *t) {
      static const char* kKnown[] = {"kernels", "dtype", "max_abs", "fa_rule", "ulp_max", "excess_max", "expect"};
      bool known = false;
      for (const char* name : kKnown) known = known || k.str() == name;
      if (!known) throw Error(where + ": unknown key '" + std::string(k.str()) + "'");
    }
    GateRule r;
    r.kernels = (*t)["kernels"].value_or<std::string>("*");
    if (auto d = (*t)["dtype"].value<std::string>()) r.dtype = *d;
    r.max_abs = opt_number(*t, "max_abs", where);
    r.fa_rule = opt_number(*t, "fa_rule", where);
    r.ulp_max = opt_number(*t, "ulp_max", where);
    r.excess_max = opt_number(*t, "excess_max", where);
    const std::string expect = (*t)["expect"].value_or<std::string>("pass");
    if (expect != "pass" && expect != "fail") throw Error(where + ": expect must be \"pass\" or \"fail\"");
    r.expect_fail = expect == "fail";
    if (!r.max_abs && !r.fa_rule && !r.ulp_max && !r.excess_max)
      throw Error(where + ": a rule needs at least one bound (max_abs, fa_rule, ulp_max, excess_max)");
    spec.rules.push_back(r);
  }
  return spec;
}

GateSpec parse_gate_spec(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw Error("cannot read tolerance file '" + path + "'");
  std::stringstream s;
  s << f.rdbuf();
  return parse_gate_spec_text(s.str(), path);
}

GateResult run_gate(const ResultsDb& db, const std::optional<std::string>& sweep, const GateSpec& spec) {
  std::map<std::string, double> baseline_max_abs;  // point key -> max_abs in the baseline
  if (spec.baseline_db) {
    ResultsDb base(*spec.baseline_db);
    for (const ResultRow& r : base.rows(sweep))
      if (r.status == "ok") baseline_max_abs[r.sweep + "|" + r.point_key] = metric(r.metrics, "kernel", "max_abs");
  }
  GateResult result;
  std::map<std::string, GateCase> mutant_cases;  // kernel -> aggregated case
  for (const ResultRow& r : db.rows(sweep)) {
    if (r.status == "invalid") {
      ++result.invalid;
      continue;
    }
    const std::string dtype = r.config.value("dtype", "");
    const GateRule* rule = nullptr;
    for (const GateRule& candidate : spec.rules)
      if (glob_match(candidate.kernels, r.kernel) && (!candidate.dtype || *candidate.dtype == dtype)) {
        rule = &candidate;
        break;
      }
    GateCase c{r.point_key, r.kernel, false, false, ""};
    if (r.status != "ok") {
      c.failure = "run failed: " + r.message;
    } else if (!rule) {
      c.unchecked = true;
    } else {
      const nlohmann::json& m = r.metrics;
      const double max_abs = metric(m, "kernel", "max_abs");
      std::string why;
      auto bound = [&](const char* what, double value, std::optional<double> limit) {
        if (limit && !(value <= *limit)) why += std::string(what) + " " + fmt(value) + " > " + fmt(*limit) + "; ";
      };
      bound("max_abs", max_abs, rule->max_abs);
      bound("ulp_max", metric(m, "kernel", "ulp_max"), rule->ulp_max);
      // A null excess means the truth was exactly representable and the kernel still missed it.
      bound("excess", m.contains("excess") && m["excess"].is_null() ? INFINITY : metric(m, "excess"), rule->excess_max);
      if (rule->fa_rule) {
        const double base = metric(m, "baseline", "max_abs");
        if (std::isnan(base)) why += "FA rule: no same-precision baseline for this point; ";
        else bound("max_abs vs FA rule", max_abs, *rule->fa_rule * base + 1e-5);
      }
      const double nan_inf = metric(m, "kernel", "nan_count") + metric(m, "kernel", "inf_count");
      if (nan_inf > 0) why += "NaN/Inf in output: " + fmt(nan_inf) + "; ";
      if (auto it = baseline_max_abs.find(r.sweep + "|" + r.point_key); it != baseline_max_abs.end())
        if (!(max_abs <= it->second * spec.ratchet_slack))
          why += "ratchet: max_abs " + fmt(max_abs) + " > baseline " + fmt(it->second) + " x " + fmt(spec.ratchet_slack) + "; ";
      c.passed = why.empty();
      c.failure = why;
      if (rule->expect_fail) {  // aggregate per mutant kernel: caught if any point fails
        GateCase& agg = mutant_cases.try_emplace(r.kernel, GateCase{r.kernel + " (mutant must be caught)", r.kernel,
                                                                    false, false, "not caught at any point"}).first->second;
        if (!c.passed) {
          agg.passed = true;
          agg.failure.clear();
        }
        continue;
      }
    }
    result.cases.push_back(c);
  }
  for (auto& [_, c] : mutant_cases) result.cases.push_back(c);
  for (const GateCase& c : result.cases) {
    if (c.unchecked) ++result.unchecked;
    else if (c.passed) ++result.passed;
    else ++result.failed;
  }
  return result;
}

std::string to_junit_xml(const GateResult& result) {
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"attnscope-gate\" tests=\"" << result.cases.size()
    << "\" failures=\"" << result.failed << "\" skipped=\"" << result.unchecked << "\">\n";
  for (const GateCase& c : result.cases) {
    x << "  <testcase classname=\"" << xml_escape(c.kernel) << "\" name=\"" << xml_escape(c.name) << "\"";
    if (c.passed) {
      x << "/>\n";
    } else if (c.unchecked) {
      x << "><skipped message=\"no tolerance rule matches this kernel\"/></testcase>\n";
    } else {
      x << "><failure message=\"" << xml_escape(c.failure) << "\"/></testcase>\n";
    }
  }
  x << "</testsuite>\n";
  return x.str();
}

}  // namespace attn
