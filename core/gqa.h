// gqa.h: which KV head a query head reads (DESIGN.md, "GQA"). One definition for references,
// emulator, kernels and mutants.
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace attn {

enum class GqaMapping : int {
  contiguous = 0,   ///< default: query head h reads KV head h / (H_q / H_kv) (PyTorch enable_gqa, FlashAttention)
  interleaved = 1,  ///< query head h reads KV head h % H_kv; a named alternative for diagnosis only
};

ATTN_HD int64_t kv_head_for(int64_t head_q, int64_t num_heads_q, int64_t num_heads_kv, GqaMapping mapping) {
  if (mapping == GqaMapping::interleaved) return head_q % num_heads_kv;
  return head_q / (num_heads_q / num_heads_kv);
}

/// The inverse: query head of member `member` (0 .. H_q/H_kv - 1) of the group reading KV head
/// `kv_head` (kv_head_for(query_head_for(k, g, ...), ...) == k for every g).
template <class Int>
ATTN_HD Int query_head_for(Int kv_head, Int member, Int num_heads_q, Int num_heads_kv, GqaMapping mapping) {
  if (mapping == GqaMapping::interleaved) return member * num_heads_kv + kv_head;
  return kv_head * (num_heads_q / num_heads_kv) + member;
}

}  // namespace attn
