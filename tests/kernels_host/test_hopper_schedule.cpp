// test_hopper_schedule.cpp: CPU checks of the Hopper prefill's persistent tile order
// (kernels/hopper/scheduler.cuh, unit_at): every work tile (m_block, head, batch) is visited
// exactly once, causal units pair m_blocks i and num_m_blocks - 1 - i of one (batch, head) (heavy
// first, the odd middle alone), and a static stride over the units of the 48-shape benchmark
// (B S = 16384, H 16, BLOCK_M = BLOCK_N = 128, 132 CTAs, the L2 sections of the launcher) leaves
// the busiest CTA within 4 % of the mean key-tile count (1 + visited tiles per work tile), where
// the single-tile heaviest-first order it replaced was 7-31 % over.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "kernels/hopper/scheduler.cuh"

namespace attn::hopper {
namespace {

TileSchedule make_schedule(int num_m_blocks, int heads, int batch, int pairs_per_section, bool causal) {
  TileSchedule s;
  s.num_m_blocks = num_m_blocks;
  s.num_heads = heads;
  s.batch = batch;
  s.pairs_per_section = pairs_per_section;
  s.heavy_rows_last = causal ? 1 : 0;
  s.units_per_pair = schedule_units_per_pair(num_m_blocks, causal);
  s.total_units = batch * heads * s.units_per_pair;
  return s;
}

std::vector<WorkTile> tiles_of(const WorkUnit& u) {
  std::vector<WorkTile> t{u.first};
  if (u.second_m_block >= 0) t.push_back({u.second_m_block, u.first.head, u.first.batch});
  return t;
}

}  // namespace

TEST_CASE("hopper schedule: every work tile once; causal units mirror m_blocks, heavy first") {
  for (bool causal : {false, true})
    for (int nm : {1, 2, 3, 4, 7, 8, 33})
      for (auto [heads, batch] : {std::pair{1, 1}, {3, 2}, {16, 5}})
        for (int pps : {1, 2, 5, 1000}) {
          const int pairs = heads * batch;
          const TileSchedule s = make_schedule(nm, heads, batch, std::min(pps, pairs), causal);
          std::vector<int> seen(static_cast<size_t>(pairs * nm), 0);
          for (int u = 0; u < s.total_units; ++u) {
            const WorkUnit unit = unit_at(s, u);
            if (causal) {
              if (unit.second_m_block >= 0) {
                CHECK(unit.first.m_block + unit.second_m_block == nm - 1);
                CHECK(unit.first.m_block > unit.second_m_block);
              } else {
                CHECK(2 * unit.first.m_block == nm - 1);  // the odd middle
              }
            } else {
              CHECK(unit.second_m_block < 0);
            }
            for (const WorkTile& w : tiles_of(unit)) {
              REQUIRE(w.m_block >= 0);
              REQUIRE(w.m_block < nm);
              REQUIRE(w.head >= 0);
              REQUIRE(w.head < heads);
              REQUIRE(w.batch >= 0);
              REQUIRE(w.batch < batch);
              ++seen[static_cast<size_t>((w.batch * heads + w.head) * nm + w.m_block)];
            }
          }
          INFO("causal " << causal << " nm " << nm << " pairs " << pairs << " per section " << pps);
          CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(seen.size()));
        }
}

TEST_CASE("hopper schedule: a static stride over causal units is balanced on the benchmark shapes") {
  const int ctas = 132, heads = 16, block = 128;
  const int64_t l2_half = (50 << 20) / 2;
  for (int d : {64, 128})
    for (int seqlen : {512, 1024, 2048, 4096, 8192, 16384}) {
      const int batch = 16384 / seqlen, nm = seqlen / block, pairs = batch * heads;
      const int64_t kv_bytes_per_pair = int64_t{seqlen} * d * 2 * 2;  // the launcher's section rule
      const int pps = static_cast<int>(std::clamp<int64_t>(l2_half / kv_bytes_per_pair, 1, pairs));
      const TileSchedule s = make_schedule(nm, heads, batch, pps, true);
      std::vector<double> load(ctas, 0.0);
      for (int c = 0; c < ctas; ++c)
        for (int u = c; u < s.total_units; u += ctas)
          for (const WorkTile& w : tiles_of(unit_at(s, u))) load[static_cast<size_t>(c)] += 1.0 + (w.m_block + 1);
      double total = 0;
      for (double x : load) total += x;
      const double busiest = *std::max_element(load.begin(), load.end()) / (total / ctas);
      std::printf("hopper schedule D %d S %5d: busiest CTA %.3f x the mean\n", d, seqlen, busiest);
      CHECK(busiest <= 1.04);
    }
}

}  // namespace attn::hopper
