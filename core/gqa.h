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

}  // namespace attn
