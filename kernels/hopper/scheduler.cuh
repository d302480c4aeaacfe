// scheduler.cuh: the persistent tile scheduler of the Hopper prefill. A grid of at most one CTA
// per SM walks the work tiles (m_block, head, batch) with a static stride (CTA c takes tiles
// c, c + G, c + 2G, ...). The tile order does the load balancing and the L2 reuse:
//  - (batch, head) pairs are cut into sections whose K and V fit comfortably in L2 (chosen on
//    the host), so the CTAs running at one time share the same keys;
//  - inside a section, m_blocks run heaviest first: under a causal mask later query rows see
//    more keys (the longest-processing-time-first rule), so the light tiles fill the tail.
// Producer and consumers walk the same sequence, so their pipelines stay in step.
#pragma once

#include <cstdint>

namespace attn::hopper {

/// Host-computed description of the tile order (a kernel parameter).
struct TileSchedule {
  int num_m_blocks = 1;        ///< ceil(S_q / BLOCK_M)
  int num_heads = 1;           ///< H_q
  int batch = 1;
  int pairs_per_section = 1;   ///< (batch, head) pairs whose tiles are interleaved
  int total_tiles = 1;
  int heavy_rows_last = 0;     ///< 1: the last m_blocks carry the most keys (causal masks)
};

struct WorkTile {
  int m_block, head, batch;
};

/// Tile number t (0 <= t < total_tiles) of the order above.
__device__ __forceinline__ WorkTile tile_at(const TileSchedule& s, int t) {
  const int pairs = s.num_heads * s.batch;
  const int section_tiles = s.pairs_per_section * s.num_m_blocks;
  const int section = t / section_tiles;
  const int within = t - section * section_tiles;
  const int first_pair = section * s.pairs_per_section;
  const int pairs_here = min(s.pairs_per_section, pairs - first_pair);  // the last section may be short
  const int m_index = within / pairs_here;
  const int pair = first_pair + (within - m_index * pairs_here);
  WorkTile w;
  w.m_block = s.heavy_rows_last ? s.num_m_blocks - 1 - m_index : m_index;
  w.batch = pair / s.num_heads;
  w.head = pair - w.batch * s.num_heads;
  return w;
}

}  // namespace attn::hopper
