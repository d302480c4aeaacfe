#include "cli/metrics_table.h"

#include <cstdio>
#include <iostream>
#include <string>

#include "analysis/metrics.h"

namespace attn::cli {

std::string short_number(const nlohmann::json& x) {
  if (!x.is_number()) return x.is_null() ? "-" : x.dump();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", x.get<double>());
  return buf;
}

void print_metrics_table(const nlohmann::json& m) {
  const auto& g = short_number;
  const auto& k = m["kernel"];
  std::printf("  %-22s %12s %12s %12s %12s %10s %10s\n", "", "max_abs", "mean_abs", "rmse", "rel_fro", "ulp_max", "ulp_p99");
  auto row = [&](const char* name, const nlohmann::json& x) {
    std::printf("  %-22s %12s %12s %12s %12s %10s %10s\n", name, g(x["max_abs"]).c_str(), g(x["mean_abs"]).c_str(),
                g(x["rmse"]).c_str(), g(x["rel_fro"]).c_str(), g(x["ulp_max"]).c_str(), g(x["ulp_p99"]).c_str());
  };
  row("kernel", k);
  row("rounding floor", m["floor"]);
  if (m.contains("baseline")) row("naive baseline", m["baseline"]);
  std::cout << "\n  excess (kernel rmse / floor rmse): "
            << (m["excess"].is_null() ? std::string("undefined (truth exactly representable)") : g(m["excess"])) << "\n";
  if (m.contains("fa_rule_pass"))
    std::cout << "  FlashAttention rule (" << fa_rule_text() << " = " << g(m["fa_rule_bound"])
              << "): " << (m["fa_rule_pass"].get<bool>() ? "PASS" : "FAIL") << " (error / bound "
              << (m["fa_rule_ratio"].is_number() ? g(m["fa_rule_ratio"]) : std::string("inf")) << ")\n";
  std::cout << "  NaN / Inf in output: " << k["nan_count"] << " / " << k["inf_count"] << "\n";
  std::cout << "  fully masked rows (output defined as 0): " << m["fully_masked_rows"] << "\n";
}

}  // namespace attn::cli
