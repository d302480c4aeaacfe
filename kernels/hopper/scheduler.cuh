// scheduler.cuh: the persistent tile scheduler of the Hopper prefill. A grid of at most one CTA
// per SM walks work units with a static stride (CTA c takes units c, c + G, c + 2G, ...); a unit
// is one work tile (m_block, head, batch) or, under a causal mask, two. The unit order does the
// load balancing and the L2 reuse:
//  - (batch, head) pairs are cut into sections whose K and V fit comfortably in L2 (chosen on
//    the host), so the CTAs running at one time share the same keys;
//  - causal masks (later query rows see more keys): a unit pairs the m_blocks i and
//    num_m_blocks - 1 - i of one (batch, head), heavy one first, so every unit carries about
//    num_m_blocks + 1 key tiles and the static stride is balanced to within one unit (the odd
//    middle m_block is a unit alone); units run in the order of their heavy tile, heaviest first.
//    (Heaviest-first single tiles under a static stride left CTAs 7-31 % apart on the 48-shape
//    table: the sections made the work a sawtooth; the pairs leave about 3 %, the last round.)
// Producer and consumers walk the same sequence, so their pipelines stay in step. unit_at is
// host-device (tests/kernels_host/test_hopper_schedule.cpp checks the order on the CPU).
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace attn::hopper {

/// Host-computed description of the unit order (a kernel parameter).
struct TileSchedule {
  int num_m_blocks = 1;        ///< ceil(S_q / BLOCK_M)
  int num_heads = 1;           ///< H_q
  int batch = 1;
  int pairs_per_section = 1;   ///< (batch, head) pairs whose units are interleaved
  int units_per_pair = 1;      ///< num_m_blocks, or ceil(num_m_blocks / 2) when mirrored
  int total_units = 1;         ///< batch x heads x units_per_pair
  int heavy_rows_last = 0;     ///< 1: the last m_blocks carry the most keys (causal masks): mirrored units
};

struct WorkTile {
  int m_block, head, batch;
};

/// Unit u (0 <= u < total_units) of the order above: its first tile, and how many it holds.
struct WorkUnit {
  WorkTile first;
  int second_m_block;  ///< the light tile's m_block (same head and batch); < 0: one tile
};

/// Units per (batch, head) pair: every m_block alone, or mirrored pairs (host and device).
inline constexpr int schedule_units_per_pair(int num_m_blocks, bool mirrored) {
  return mirrored ? (num_m_blocks + 1) / 2 : num_m_blocks;
}

ATTN_HD WorkUnit unit_at(const TileSchedule& s, int u) {
  const int pairs = s.num_heads * s.batch;
  const int section_units = s.pairs_per_section * s.units_per_pair;
  const int section = u / section_units;
  const int within = u - section * section_units;
  const int first_pair = section * s.pairs_per_section;
  const int pairs_here = s.pairs_per_section < pairs - first_pair ? s.pairs_per_section : pairs - first_pair;  // the last may be short
  const int m_index = within / pairs_here;
  const int pair = first_pair + (within - m_index * pairs_here);
  WorkUnit w;
  w.first.batch = pair / s.num_heads;
  w.first.head = pair - w.first.batch * s.num_heads;
  w.first.m_block = s.heavy_rows_last ? s.num_m_blocks - 1 - m_index : m_index;
  w.second_m_block = s.heavy_rows_last && m_index != s.num_m_blocks - 1 - m_index ? m_index : -1;
  return w;
}

#if defined(__CUDACC__)
/// Calls f(tile) for every work tile of this CTA, in order (producer and consumers alike).
template <class F>
__device__ __forceinline__ void for_each_work_tile(const TileSchedule& s, F&& f) {
  for (int u = blockIdx.x; u < s.total_units; u += gridDim.x) {
    const WorkUnit unit = unit_at(s, u);
    f(unit.first);
    if (unit.second_m_block >= 0) {
      WorkTile light = unit.first;
      light.m_block = unit.second_m_block;
      f(light);
    }
  }
}
#endif

}  // namespace attn::hopper
