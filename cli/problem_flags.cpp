#include "cli/problem_flags.h"

#include <sstream>

#include "core/errors.h"

namespace attn::cli {

void add_head_dim_flag(CLI::App& app, int64_t& target) {
  app.add_option("--head-dim", target, "head dimension D")->capture_default_str();
  app.add_option("--dim", target)->group("");  // hidden alias (older scripts)
}

void add_distribution_flag(CLI::App& app, std::string& target) {
  app.add_option("--distribution", target, std::string("input distribution: ") + kDistributionHelp)->capture_default_str();
  app.add_option("--dist", target)->group("");  // hidden alias (older scripts)
}

std::pair<int64_t, int64_t> heads_flag(const std::string& text) {
  try {
    return parse_heads(text);
  } catch (const Error& e) {
    throw CLI::ValidationError("--heads", e.what());
  }
}

Distribution distribution_flag(const std::string& text) {
  try {
    return parse_distribution(text);
  } catch (const Error& e) {
    throw CLI::ValidationError("--distribution", e.what());
  }
}

void ProblemFlags::add_to(CLI::App& app) {
  app.add_option("--batch", batch, "batch size B")->capture_default_str();
  app.add_option("--seqlen-q", seqlen_q, "query length S_q")->capture_default_str();
  app.add_option("--seqlen-k", seqlen_k, "key length S_k")->capture_default_str();
  app.add_option("--heads", heads, "query:KV heads, HQ:HKV (or H for MHA)")->capture_default_str();
  add_head_dim_flag(app, head_dim);
  app.add_option("--dtype", dtype, "fp16 | bf16 | fp32")->capture_default_str();
  app.add_option("--mask", mask, "causal (bottom-right) | top-left | none | window:L,R")->capture_default_str();
  app.add_option("--scale", scale, "softmax scale (default 1/sqrt(D))");
  app.add_option("--gqa", gqa, "contiguous | interleaved")->capture_default_str();
  app.add_option("--seqlens-k", seqlens_k, "per-batch valid key counts, comma separated (KV-cache fill)");
  add_distribution_flag(app, dist);
  app.add_option("--seed", seed, "input seed (Philox)")->capture_default_str();
  app.add_flag("--allow-masked-rows", allow_masked_rows, "run problems where some query rows see no key (output 0)");
}

Problem ProblemFlags::problem(bool with_attribution) const {
  Problem p;
  p.batch = batch;
  p.seqlen_q = seqlen_q;
  p.seqlen_k = seqlen_k;
  p.head_dim = head_dim;
  std::tie(p.num_heads_q, p.num_heads_kv) = heads_flag(heads);
  auto flag_error = [](const char* flag, const std::exception& e) { return CLI::ValidationError(flag, e.what()); };
  try { p.dtype = parse_dtype(dtype); } catch (const Error& e) { throw flag_error("--dtype", e); }
  try { p.mask = parse_mask(mask); } catch (const Error& e) { throw flag_error("--mask", e); }
  try { p.gqa = parse_gqa(gqa); } catch (const Error& e) { throw flag_error("--gqa", e); }
  if (scale != 0) p.softmax_scale = scale;
  if (!seqlens_k.empty()) {
    std::stringstream s(seqlens_k);
    std::string item;
    while (std::getline(s, item, ',')) {
      size_t used = 0;
      try {
        p.seqlens_k.push_back(std::stoll(item, &used));
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != item.size())
        throw CLI::ValidationError("--seqlens-k", "'" + item + "' is not an integer");
    }
  }
  try {
    p.validate();
  } catch (const ProblemError& e) {
    throw CLI::ValidationError("problem", e.what());
  }
  p.require_memory_for_run(with_attribution);  // before anything loops over or allocates the sizes
  try {
    if (!allow_masked_rows) p.require_no_fully_masked_rows();
  } catch (const ProblemError& e) {
    throw CLI::ValidationError("problem", e.what());
  }
  return p;
}

InputSpec ProblemFlags::input_spec() const {
  InputSpec spec;
  spec.distribution = distribution_flag(dist);
  spec.seed = seed;
  return spec;
}

}  // namespace attn::cli
