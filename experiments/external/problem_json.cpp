#include "experiments/external/problem_json.h"

#include "core/errors.h"

namespace attn {
namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& origin) {
  if (!j.is_object() || !j.contains(key)) throw FileFormatError(origin + ": problem has no '" + key + "'");
  return j.at(key);
}

int64_t size_field(const nlohmann::json& j, const char* key, const std::string& origin) {
  const nlohmann::json& v = field(j, key, origin);
  if (!v.is_number_integer()) throw FileFormatError(origin + ": problem '" + key + "' must be an integer");
  return v.get<int64_t>();
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& origin) {
  const nlohmann::json& v = field(j, key, origin);
  if (!v.is_string()) throw FileFormatError(origin + ": problem '" + key + "' must be a string");
  return v.get<std::string>();
}

}  // namespace

nlohmann::json problem_to_json(const Problem& p, TensorLayout layout) {
  nlohmann::json j{{"batch", p.batch},
                   {"seqlen_q", p.seqlen_q},
                   {"seqlen_k", p.seqlen_k},
                   {"num_heads_q", p.num_heads_q},
                   {"num_heads_kv", p.num_heads_kv},
                   {"head_dim", p.head_dim},
                   {"dtype", std::string(dtype_name(p.dtype))},
                   {"mask", mask_name(p.mask)},
                   {"scale", p.scale()},
                   {"scale_is_default", !p.softmax_scale.has_value()},
                   {"gqa", gqa_name(p.gqa)},
                   {"layout", layout_name(layout)}};
  j["causal_alignment"] = p.mask.kind == MaskKind::causal_bottom_right ? nlohmann::json("bottom-right")
                          : p.mask.kind == MaskKind::causal_top_left   ? nlohmann::json("top-left")
                                                                       : nlohmann::json(nullptr);
  j["window"] = p.mask.kind == MaskKind::sliding_window ? nlohmann::json{p.mask.window_left, p.mask.window_right}
                                                        : nlohmann::json(nullptr);
  j["seq_lens"] = p.seqlens_k.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.seqlens_k);
  return j;
}

Problem problem_from_json(const nlohmann::json& j, const std::string& origin) {
  Problem p;
  p.batch = size_field(j, "batch", origin);
  p.seqlen_q = size_field(j, "seqlen_q", origin);
  p.seqlen_k = size_field(j, "seqlen_k", origin);
  p.num_heads_q = size_field(j, "num_heads_q", origin);
  p.num_heads_kv = size_field(j, "num_heads_kv", origin);
  p.head_dim = size_field(j, "head_dim", origin);
  p.dtype = parse_dtype(string_field(j, "dtype", origin));
  p.mask = parse_mask(string_field(j, "mask", origin));
  p.gqa = parse_gqa(string_field(j, "gqa", origin));
  const nlohmann::json& scale = field(j, "scale", origin);
  if (!scale.is_number()) throw FileFormatError(origin + ": problem 'scale' must be a number");
  const bool is_default = j.value("scale_is_default", false);
  if (!is_default) p.softmax_scale = scale.get<double>();
  if (j.contains("seq_lens") && !j["seq_lens"].is_null()) {
    if (!j["seq_lens"].is_array()) throw FileFormatError(origin + ": problem 'seq_lens' must be an array or null");
    for (const auto& v : j["seq_lens"]) {
      if (!v.is_number_integer()) throw FileFormatError(origin + ": problem 'seq_lens' must hold integers");
      p.seqlens_k.push_back(v.get<int64_t>());
    }
  }
  p.validate();
  if (is_default && scale.get<double>() != p.scale())
    throw FileFormatError(origin + ": problem 'scale' " + scale.dump() + " is marked default but 1/sqrt(head_dim) is " +
                          std::to_string(p.scale()));
  return p;
}

TensorLayout layout_from_json(const nlohmann::json& j, const std::string& origin) {
  return parse_layout(string_field(j, "layout", origin));
}

}  // namespace attn
