#include "experiments/external/external_spec_toml.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/errors.h"

namespace attn {
namespace {

constexpr const char* kKnownKeys[] = {"name",      "command", "layout",      "dtypes",       "timeout_s",
                                      "startup_timeout_s", "env", "planted_bug", "family", "description",
                                      "max_failures"};
constexpr const char kSpecDirToken[] = "{spec_dir}";

bool valid_kernel_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_' || c == '+';
  });
}

class EntryReader {
 public:
  EntryReader(const toml::table& t, std::string where) : t_(t), where_(std::move(where)) {}

  Error fail(const std::string& key, const std::string& what) const {
    return Error(where_ + ": key '" + key + "' " + what);
  }
  std::optional<std::string> string(const std::string& key) const {
    const toml::node* n = t_.get(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<std::string>()) return *v;
    throw fail(key, "must be a string");
  }
  std::optional<std::vector<std::string>> strings(const std::string& key) const {
    const toml::node* n = t_.get(key);
    if (!n) return std::nullopt;
    const toml::array* a = n->as_array();
    if (!a) throw fail(key, "must be an array of strings");
    std::vector<std::string> out;
    for (const toml::node& el : *a) {
      auto v = el.value<std::string>();
      if (!v) throw fail(key, "must be an array of strings");
      out.push_back(*v);
    }
    return out;
  }
  std::optional<double> positive_number(const std::string& key) const {
    const toml::node* n = t_.get(key);
    if (!n) return std::nullopt;
    auto v = n->value<double>();
    if (!v) throw fail(key, "must be a number");
    if (!std::isfinite(*v) || *v <= 0) throw fail(key, "must be a positive number of seconds");
    return *v;
  }

 private:
  const toml::table& t_;
  std::string where_;
};

}  // namespace

std::vector<ExternalKernelSpec> parse_external_kernels(const toml::table& root, const std::string& origin,
                                                       const std::string& spec_dir) {
  std::vector<ExternalKernelSpec> specs;
  const toml::node* node = root.get("external");
  if (!node) return specs;
  const toml::array* entries = node->as_array();
  if (!entries) throw Error("sweep '" + origin + "': 'external' must be an array of tables ([[external]])");
  int index = 0;
  for (const toml::node& entry : *entries) {
    const std::string where = "sweep '" + origin + "' [[external]] " + std::to_string(++index);
    const toml::table* t = entry.as_table();
    if (!t) throw Error(where + " is not a table");
    for (const auto& entry_key_value : *t) {
      const std::string_view key = entry_key_value.first.str();  // no captured structured binding (clang 14)
      if (std::find_if(std::begin(kKnownKeys), std::end(kKnownKeys), [&](const char* known) { return key == known; }) ==
          std::end(kKnownKeys))
        throw Error(where + ": unknown key '" + std::string(key) + "'");
    }
    const EntryReader r(*t, where);
    ExternalKernelSpec s;
    s.name = r.string("name").value_or("");
    if (!valid_kernel_name(s.name))
      throw r.fail("name", "must be 1-128 characters of letters, digits and . - _ + (got '" + s.name + "')");
    for (const ExternalKernelSpec& other : specs)
      if (other.name == s.name) throw r.fail("name", "'" + s.name + "' is given to two [[external]] entries");
    s.command = r.strings("command").value_or(std::vector<std::string>{});
    if (s.command.empty() || s.command[0].empty())
      throw r.fail("command", "is required: the worker's argument vector, e.g. [\"python3\", \"worker.py\"]");
    if (!spec_dir.empty())
      for (std::string& arg : s.command)
        if (arg.rfind(kSpecDirToken, 0) == 0) arg = spec_dir + arg.substr(sizeof(kSpecDirToken) - 1);
    const auto layout = r.string("layout");
    if (!layout) throw r.fail("layout", "is required: \"bshd\" ([B, S, H, D]) or \"bhsd\" ([B, H, S, D], PyTorch)");
    try {
      s.layout = parse_layout(*layout);
    } catch (const Error& e) {
      throw r.fail("layout", e.what());
    }
    if (auto dtypes = r.strings("dtypes")) {
      if (dtypes->empty()) throw r.fail("dtypes", "is an empty list");
      s.dtypes.clear();
      for (const std::string& d : *dtypes) {
        try {
          s.dtypes.push_back(parse_dtype(d));
        } catch (const Error& e) {
          throw r.fail("dtypes", e.what());
        }
      }
    }
    s.timeout_s = r.positive_number("timeout_s").value_or(s.timeout_s);
    s.startup_timeout_s = r.positive_number("startup_timeout_s").value_or(s.startup_timeout_s);
    if (const toml::node* env = t->get("env")) {
      const toml::table* e = env->as_table();
      if (!e) throw r.fail("env", "must be a table of strings, e.g. { CUDA_VISIBLE_DEVICES = \"0\" }");
      for (const auto& [k, v] : *e) {
        auto value = v.value<std::string>();
        if (!value || k.str().empty() || k.str().find('=') != std::string_view::npos)
          throw r.fail("env", "entry '" + std::string(k.str()) + "' must be NAME = \"string\"");
        std::string text = *value;
        if (!spec_dir.empty() && text.find(kSpecDirToken) != std::string::npos)
          text.replace(text.find(kSpecDirToken), sizeof(kSpecDirToken) - 1, spec_dir);
        s.env[std::string(k.str())] = text;
      }
    }
    s.planted_bug = r.string("planted_bug").value_or("");
    s.family = r.string("family").value_or(s.planted_bug.empty() ? "external" : "mutant");
    s.description = r.string("description").value_or("");
    if (const toml::node* m = t->get("max_failures")) {
      auto v = m->value<int64_t>();
      if (!v || *v < 1 || *v > 1000) throw r.fail("max_failures", "must be an integer in 1..1000");
      s.max_failures = static_cast<int>(*v);
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

}  // namespace attn
