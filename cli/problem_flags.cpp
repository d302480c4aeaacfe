#include "cli/problem_flags.h"

#include <sstream>

#include "core/errors.h"

namespace attn::cli {

void ProblemFlags::add_to(CLI::App& app) {
  app.add_option("--batch", batch, "batch size B")->capture_default_str();
  app.add_option("--seqlen-q", seqlen_q, "query length S_q")->capture_default_str();
  app.add_option("--seqlen-k", seqlen_k, "key length S_k")->capture_default_str();
  app.add_option("--heads", heads, "query:KV heads, HQ:HKV (or H for MHA)")->capture_default_str();
  app.add_option("--dim", head_dim, "head dimension D")->capture_default_str();
  app.add_option("--dtype", dtype, "fp16 | bf16 | fp32")->capture_default_str();
  app.add_option("--mask", mask, "causal (bottom-right) | top-left | none | window:L,R")->capture_default_str();
  app.add_option("--scale", scale, "softmax scale (default 1/sqrt(D))");
  app.add_option("--gqa", gqa, "contiguous | interleaved")->capture_default_str();
  app.add_option("--seqlens-k", seqlens_k, "per-batch valid key counts, comma separated (KV-cache fill)");
  app.add_option("--dist", dist, "normal | uniform | outliers | large-logits | sink")->capture_default_str();
  app.add_option("--seed", seed, "input seed (Philox)")->capture_default_str();
  app.add_flag("--allow-masked-rows", allow_masked_rows, "run problems where some query rows see no key (output 0)");
}

Problem ProblemFlags::problem() const {
  Problem p;
  p.batch = batch;
  p.seqlen_q = seqlen_q;
  p.seqlen_k = seqlen_k;
  p.head_dim = head_dim;
  const auto colon = heads.find(':');
  try {
    size_t used = 0;
    if (colon == std::string::npos) {
      p.num_heads_q = p.num_heads_kv = std::stoll(heads, &used);
      if (used != heads.size()) throw std::invalid_argument("");
    } else {
      const std::string hq = heads.substr(0, colon), hkv = heads.substr(colon + 1);
      size_t used_kv = 0;
      p.num_heads_q = std::stoll(hq, &used);
      p.num_heads_kv = std::stoll(hkv, &used_kv);
      if (used != hq.size() || used_kv != hkv.size()) throw std::invalid_argument("");
    }
  } catch (const std::exception&) {
    throw CLI::ValidationError("--heads", "expected HQ:HKV or H (integers), got '" + heads + "'");
  }
  auto flag_error = [](const char* flag, const std::exception& e) { return CLI::ValidationError(flag, e.what()); };
  try { p.dtype = parse_dtype(dtype); } catch (const Error& e) { throw flag_error("--dtype", e); }
  try { p.mask = parse_mask(mask); } catch (const Error& e) { throw flag_error("--mask", e); }
  try { p.gqa = parse_gqa(gqa); } catch (const Error& e) { throw flag_error("--gqa", e); }
  if (scale != 0) p.softmax_scale = scale;
  if (!seqlens_k.empty()) {
    std::stringstream s(seqlens_k);
    std::string item;
    while (std::getline(s, item, ',')) {
      try {
        p.seqlens_k.push_back(std::stoll(item));
      } catch (const std::exception&) {
        throw CLI::ValidationError("--seqlens-k", "'" + item + "' is not an integer");
      }
    }
  }
  try {
    p.validate();
    if (!allow_masked_rows) p.require_no_fully_masked_rows();
  } catch (const ProblemError& e) {
    throw CLI::ValidationError("problem", e.what());
  }
  return p;
}

InputSpec ProblemFlags::input_spec() const {
  InputSpec spec;
  try {
    spec.distribution = parse_distribution(dist);
  } catch (const Error& e) {
    throw CLI::ValidationError("--dist", e.what());
  }
  spec.seed = seed;
  return spec;
}

}  // namespace attn::cli
