// problem_json.h: a Problem as the JSON object external workers receive (the "problem" of a
// request) and case files carry in their metadata — one definition for both, read back exactly
// (the scale as a double printed with 17 digits).
//   {"batch": 1, "seqlen_q": 7, "seqlen_k": 307, "num_heads_q": 8, "num_heads_kv": 2,
//    "head_dim": 64, "dtype": "fp16", "mask": "causal", "causal_alignment": "bottom-right",
//    "window": null, "scale": 0.125, "scale_is_default": true, "gqa": "contiguous",
//    "seq_lens": null, "layout": "bshd"}
// "mask" is attnscope's mask name (causal = bottom-right, top-left, none, window:L,R); "window"
// is [left, right] for a window mask; "seq_lens" the valid keys per batch entry when the keys
// are a partly filled KV cache (null: every entry has seqlen_k keys).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/layout.h"
#include "core/problem.h"

namespace attn {

nlohmann::json problem_to_json(const Problem& problem, TensorLayout layout);
/// Reads problem_to_json's object back and validates it; throws FileFormatError naming `origin`
/// and the key for a missing or ill-typed key, ProblemError for an invalid problem.
Problem problem_from_json(const nlohmann::json& j, const std::string& origin);
TensorLayout layout_from_json(const nlohmann::json& j, const std::string& origin);

}  // namespace attn
