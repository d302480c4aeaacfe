// semantics.h: what "attention" means for one problem — the declared meaning (mask, GQA
// mapping, scale, keys per batch entry) plus, optionally, one planted semantic bug (a mask
// aligned to the wrong corner, the wrong KV head, a stale cache length, padded keys leaking into
// the softmax, base-2 LSEs merged with natural exp). Host-device: the GPU kernels, the CPU
// emulator and the semantic diagnosis all read keys, KV heads and visibility through these
// functions, so a mutant has the same reach everywhere. The mask rule and the GQA map themselves
// stay in core/mask.h and core/gqa.h; this file only says which of them applies.
//
// Reach of the planted bugs (plant_bug): the "cache path" ones (top-left, interleaved GQA, stale
// seq_lens) act only when the problem takes the cache path: it has per-entry key lengths
// (Problem::seqlens_k set) or is decode-like (S_q < S_k). The tile-edge leak acts on every
// problem (it needs S_k not a multiple of the tile); the split-combine bug on every split-KV run.
// Numeric bugs (P cast before the final max, rescale in FP16) change no meaning: plant_bug leaves
// them to the arithmetic (core/pipeline/online_softmax.h).
#pragma once

#include <cstdint>

#include "core/gqa.h"
#include "core/hd.h"
#include "core/kernel_config.h"
#include "core/mask.h"

namespace attn::pipeline {

/// How split-KV partial results are merged (core/pipeline/split_combine.h).
enum class LseCombine : uint8_t {
  matched,               ///< weights in the base the partial LSEs were written in (correct)
  base2_as_natural,      ///< planted: base-2 LSEs weighted with natural exp (e^lse2 instead of 2^lse2)
};

/// One meaning of attention. Default-constructed: the DESIGN.md default (bottom-right causal,
/// contiguous GQA, every declared key, no leak, matched combine). `scale` is the host's
/// softmax_scale (kernels carry theirs in their params).
struct Semantics {
  Mask mask{};
  GqaMapping gqa = GqaMapping::contiguous;
  double scale = 1.0;
  int key_delta = 0;      ///< keys read = declared + key_delta, at least 0 (-1: stale seq_lens)
  int leak_tile = 0;      ///< > 0: keys padded up to a multiple of leak_tile enter the softmax
  LseCombine combine = LseCombine::matched;
};

/// True when the problem takes a KV-cache kernel's path: per-entry key lengths are given, or
/// there are more keys than queries (decode, chunked prefill). The reach of the cache mutants.
ATTN_HD bool is_cache_path(int64_t seqlen_q, int64_t seqlen_k, bool has_seqlens) {
  return has_seqlens || seqlen_q < seqlen_k;
}

/// `declared` with the planted bug `bug` applied (Mutant::none: unchanged). `tile_keys` is the
/// kernel's key tile (BLOCK_N): the unit whose padding leaks. A bug whose problem is off its
/// reach (cache bugs off the cache path, top-left on a non-bottom-right mask) changes nothing.
ATTN_HD Semantics plant_bug(Semantics declared, Mutant bug, bool cache_path, int tile_keys) {
  Semantics s = declared;
  switch (bug) {
    case Mutant::top_left_in_cache_path:
      if (cache_path && s.mask.kind == MaskKind::causal_bottom_right) s.mask.kind = MaskKind::causal_top_left;
      break;
    case Mutant::interleaved_gqa_in_cache_path:
      if (cache_path) s.gqa = GqaMapping::interleaved;
      break;
    case Mutant::stale_seqlens:
      if (cache_path) s.key_delta = -1;
      break;
    case Mutant::unmasked_tile_edges: s.leak_tile = tile_keys; break;
    case Mutant::base2_lse_natural_combine: s.combine = LseCombine::base2_as_natural; break;
    default: break;  // none, and the numeric bugs (arithmetic, not meaning)
  }
  return s;
}

/// Keys the kernel reads for a batch entry with `declared_keys` valid keys.
template <class Int>
ATTN_HD Int semantic_keys(const Semantics& s, Int declared_keys) {
  if (s.key_delta == 0) return declared_keys;
  const Int keys = declared_keys + static_cast<Int>(s.key_delta);
  return keys > 0 ? keys : Int(0);
}

/// KV head read by query head `head_q`.
template <class Int>
ATTN_HD Int semantic_kv_head(const Semantics& s, Int head_q, Int num_heads_q, Int num_heads_kv) {
  return static_cast<Int>(kv_head_for(head_q, num_heads_q, num_heads_kv, s.gqa));
}

/// Query head of member `member` (0 .. H_q/H_kv - 1) of the group that reads KV head `kv_head`
/// (the inverse of semantic_kv_head: decode kernels walk a KV head's query heads).
template <class Int>
ATTN_HD Int semantic_query_head(const Semantics& s, Int kv_head, Int member, Int num_heads_q, Int num_heads_kv) {
  return static_cast<Int>(query_head_for(kv_head, member, num_heads_q, num_heads_kv, s.gqa));
}

/// Whether query i sees key j when the entry has `keys` keys (after semantic_keys). With a leak,
/// a padded key j in [keys, round_up(keys, leak_tile)) is judged like key keys - 1: the bounds
/// check the bug lacks (its K and V read as zeros, so it enters the softmax with score 0).
template <class Int>
ATTN_HD bool semantic_key_visible(const Semantics& s, Int i, Int j, Int seqlen_q, Int keys) {
  if (s.leak_tile > 0 && j >= keys) {
    const Int padded = (keys + s.leak_tile - 1) / s.leak_tile * s.leak_tile;
    return j < padded && key_visible(s.mask, i, keys - 1, seqlen_q, keys);
  }
  return key_visible(s.mask, i, j, seqlen_q, keys);
}

}  // namespace attn::pipeline
