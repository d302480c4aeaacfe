#include "core/problem.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "core/memory_budget.h"
#include "core/tensor.h"

namespace attn {

double Problem::scale() const {
  return softmax_scale ? *softmax_scale : 1.0 / std::sqrt(static_cast<double>(head_dim));
}

void Problem::validate() const {
  auto positive = [](const char* field, int64_t v) {
    if (v <= 0) throw ProblemError(std::string(field) + " must be positive, got " + std::to_string(v));
    if (v > kMaxDimension)
      throw ProblemError(std::string(field) + " = " + std::to_string(v) + " exceeds the largest supported size 2^48");
  };
  positive("batch", batch);
  positive("seqlen_q", seqlen_q);
  positive("seqlen_k", seqlen_k);
  positive("num_heads_q", num_heads_q);
  positive("num_heads_kv", num_heads_kv);
  positive("head_dim", head_dim);
  if (num_heads_q % num_heads_kv != 0)
    throw ProblemError("num_heads_q (" + std::to_string(num_heads_q) + ") is not a multiple of num_heads_kv (" +
                       std::to_string(num_heads_kv) + "): GQA needs H_q = g * H_kv");
  if (head_dim > 512) throw ProblemError("head_dim " + std::to_string(head_dim) + " unsupported (1..512)");
  if (softmax_scale && (!std::isfinite(*softmax_scale) || *softmax_scale <= 0))
    throw ProblemError("softmax_scale must be finite and positive");
  if (mask.kind != MaskKind::sliding_window && (mask.window_left >= 0 || mask.window_right >= 0))
    throw ProblemError("a window (left, right) was given for mask '" + mask_name(mask) + "', which has none");
  if (!seqlens_k.empty()) {
    if (static_cast<int64_t>(seqlens_k.size()) != batch)
      throw ProblemError("seqlens_k has " + std::to_string(seqlens_k.size()) + " entries for batch " +
                         std::to_string(batch));
    for (size_t b = 0; b < seqlens_k.size(); ++b)
      if (seqlens_k[b] < 0 || seqlens_k[b] > seqlen_k)
        throw ProblemError("seqlens_k[" + std::to_string(b) + "] = " + std::to_string(seqlens_k[b]) +
                           " is outside [0, seqlen_k = " + std::to_string(seqlen_k) + "]");
  }
  checked_numel(q_shape());
  checked_numel(kv_shape());
  checked_numel({batch, num_heads_q, seqlen_q, seqlen_k});  // score count: must be addressable
}

uint64_t Problem::estimated_bytes(bool with_attribution) const {
  const auto u = [](int64_t x) { return static_cast<uint64_t>(x < 0 ? 0 : x); };
  const uint64_t q = saturating_mul(saturating_mul(u(batch), u(seqlen_q)), saturating_mul(u(num_heads_q), u(head_dim)));
  const uint64_t kv = saturating_mul(saturating_mul(u(batch), u(seqlen_k)), saturating_mul(u(num_heads_kv), u(head_dim)));
  const uint64_t rows = saturating_mul(saturating_mul(u(batch), u(num_heads_q)), u(seqlen_q));
  const unsigned hardware = std::thread::hardware_concurrency();
  const uint64_t threads = hardware == 0 ? 1 : std::min<uint64_t>(hardware, 256);
  constexpr uint64_t kRowsPerThread = 128;  // a tile of score rows per worker (emulator, references)
  // doubles: Q, K, V twice (quantized + unquantized), 6 output-sized tensors (truth twice,
  // baseline, kernel, rounded floor, ULP buffer), 4 per-row values (LSEs), per-thread scores.
  uint64_t doubles = saturating_add(saturating_mul(2, saturating_add(q, saturating_mul(2, kv))), saturating_mul(6, q));
  doubles = saturating_add(doubles, saturating_mul(4, rows));
  doubles = saturating_add(doubles, saturating_mul(saturating_mul(threads, kRowsPerThread), u(seqlen_k)));
  if (with_attribution)
    doubles = saturating_add(doubles, saturating_mul(threads, saturating_mul(u(seqlen_q), u(seqlen_k))));
  return saturating_mul(doubles, sizeof(double));
}

void Problem::require_memory_for_run(bool with_attribution) const {
  require_memory(estimated_bytes(with_attribution), "problem " + label());
}

int64_t Problem::fully_masked_rows() const {
  int64_t count = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t keys = keys_in_batch(b);
    for (int64_t i = 0; i < seqlen_q; ++i) {
      const KeyRange r = visible_key_range(mask, i, seqlen_q, keys);
      bool any = false;
      for (int64_t j = r.first; j < r.last && !any; ++j) any = key_visible(mask, i, j, seqlen_q, keys);
      if (!any) ++count;
    }
  }
  return count * num_heads_q;
}

void Problem::require_no_fully_masked_rows() const {
  const int64_t rows = fully_masked_rows();
  if (rows == 0) return;
  std::ostringstream msg;
  msg << rows << " query rows (over batch and heads) see no key under mask '" << mask_name(mask) << "'";
  if (mask.kind == MaskKind::causal_bottom_right && seqlen_q > seqlen_k)
    msg << ": S_q = " << seqlen_q << " > S_k = " << seqlen_k
        << " under bottom-right causal leaves the first " << (seqlen_q - seqlen_k) << " rows with no visible key";
  msg << " (their output is defined as 0; pass --allow-masked-rows to run anyway)";
  throw ProblemError(msg.str());
}

std::string mask_name(const Mask& mask) {
  switch (mask.kind) {
    case MaskKind::causal_bottom_right: return "causal";
    case MaskKind::causal_top_left: return "top-left";
    case MaskKind::none: return "none";
    case MaskKind::sliding_window:
      return "window:" + std::to_string(mask.window_left) + "," + std::to_string(mask.window_right);
  }
  return "?";
}

Mask parse_mask(const std::string& text) {
  if (text == "causal" || text == "causal-br" || text == "bottom-right") return {MaskKind::causal_bottom_right};
  if (text == "top-left" || text == "causal-tl") return {MaskKind::causal_top_left};
  if (text == "none") return {MaskKind::none};
  if (text.rfind("window:", 0) == 0) {
    const std::string body = text.substr(7);
    const auto comma = body.find(',');
    try {
      if (comma == std::string::npos) throw std::invalid_argument("no comma");
      size_t used_l = 0, used_r = 0;
      const std::string ls = body.substr(0, comma), rs = body.substr(comma + 1);
      Mask m{MaskKind::sliding_window, std::stoll(ls, &used_l), std::stoll(rs, &used_r)};
      if (used_l != ls.size() || used_r != rs.size()) throw std::invalid_argument("trailing");
      return m;
    } catch (const std::exception&) {
      throw ProblemError("mask '" + text + "': expected window:LEFT,RIGHT with integers (-1 = unbounded)");
    }
  }
  throw ProblemError("unknown mask '" + text + "' (allowed: causal, top-left, none, window:L,R)");
}

std::string gqa_name(GqaMapping mapping) {
  return mapping == GqaMapping::interleaved ? "interleaved" : "contiguous";
}

GqaMapping parse_gqa(const std::string& text) {
  if (text == "contiguous") return GqaMapping::contiguous;
  if (text == "interleaved") return GqaMapping::interleaved;
  throw ProblemError("unknown GQA mapping '" + text + "' (allowed: contiguous, interleaved)");
}

std::pair<int64_t, int64_t> parse_heads(const std::string& text) {
  auto whole = [&](const std::string& part) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (part.empty() || used != part.size() || part[0] == '+' || part[0] == ' ')
      throw ProblemError("expected HQ:HKV or H with integers, got '" + text + "'");
    if (v <= 0 || v > kMaxDimension) throw ProblemError("head counts must be positive, got '" + text + "'");
    return v;
  };
  const auto colon = text.find(':');
  const int64_t hq = whole(text.substr(0, colon));
  const int64_t hkv = colon == std::string::npos ? hq : whole(text.substr(colon + 1));
  if (hq % hkv != 0)
    throw ProblemError("H_q = " + std::to_string(hq) + " is not a multiple of H_kv = " + std::to_string(hkv) +
                " (GQA needs H_q = g x H_kv)");
  return {hq, hkv};
}

std::string Problem::label() const {
  std::ostringstream s;
  s << "b" << batch << ".sq" << seqlen_q << ".sk" << seqlen_k << ".h" << num_heads_q << ":" << num_heads_kv
    << ".d" << head_dim << "." << dtype_name(dtype) << "." << mask_name(mask);
  if (gqa == GqaMapping::interleaved) s << ".interleaved";
  return s.str();
}

}  // namespace attn
