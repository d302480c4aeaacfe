#include "core/registry.h"

#include "core/errors.h"

namespace attn {

bool glob_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void Registry::add(Kernel kernel) {
  if (find(kernel.info.name)) throw Error("kernel '" + kernel.info.name + "' is registered twice");
  kernels_.push_back(std::move(kernel));
}

const Kernel* Registry::find(const std::string& name) const {
  for (const Kernel& k : kernels_)
    if (k.info.name == name) return &k;
  return nullptr;
}

const Kernel& Registry::get(const std::string& name) const {
  if (const Kernel* k = find(name)) return *k;
  std::string names;
  for (const Kernel& k : kernels_) names += (names.empty() ? "" : ", ") + k.info.name;
  throw Error("unknown kernel '" + name + "' (registered: " + (names.empty() ? "none" : names) +
              "; `attnscope list` shows them with their traits)");
}

std::vector<const Kernel*> Registry::matching(const std::string& pattern) const {
  std::vector<const Kernel*> out;
  for (const Kernel& k : kernels_)
    if (glob_match(pattern, k.info.name)) out.push_back(&k);
  return out;
}

std::vector<const Kernel*> Registry::all() const { return matching("*"); }

bool KernelQuery::matches(const KernelInfo& k) const {
  if (design && k.design != *design) return false;
  if (dtype && k.dtype != *dtype) return false;
  if (head_dim && k.head_dim != 0 && k.head_dim != *head_dim) return false;
  if (path && k.path != *path) return false;
  if (mutant && k.mutant != *mutant) return false;
  if (num_splits && (!k.algorithm || k.algorithm->tiles.num_splits != *num_splits)) return false;
  return !default_only || k.is_default;
}

std::vector<const Kernel*> Registry::select(const KernelQuery& query) const {
  std::vector<const Kernel*> out;
  for (const Kernel& k : kernels_)
    if (query.matches(k.info)) out.push_back(&k);
  return out;
}

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::full: return "full";
    case KernelPath::decode: return "decode";
    case KernelPath::chunked_prefill: return "chunked-prefill";
  }
  return "?";
}

}  // namespace attn
