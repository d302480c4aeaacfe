// barrier.cuh: the synchronization primitives of the Hopper kernels, as thin PTX wrappers:
// mbarrier (init, arrive, arrive with an expected transaction count, parity wait), named
// barriers (bar.sync / bar.arrive with a thread count), the async-proxy fence and setmaxnreg.
// Every wait is bounded: a wait that does not complete within kWatchdogNanoseconds records which
// barrier it was (host-mapped memory) and traps, so a protocol bug becomes a named launch
// failure, never a hang.
// No logic beyond that (the pipelines that use these live in mainloop.cuh).
#pragma once

#include <cstdint>

namespace attn::hopper {

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

/// A barrier wait longer than this (10 s; a legitimate wait is microseconds) is a deadlock.
inline constexpr uint64_t kWatchdogNanoseconds = 10ull * 1000 * 1000 * 1000;

/// Where a wait happens, printed by the watchdog.
enum class WaitSite : int { q_full = 1, q_empty, k_full, k_empty, v_full, v_empty, ragged_tail, o_free };

__device__ __forceinline__ void mbarrier_init(uint64_t* bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(arrivals) : "memory");
}
/// Makes the initialized barriers visible to the async proxy (TMA) and the other threads.
__device__ __forceinline__ void fence_barrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

/// One arrival that also announces `bytes` of TMA traffic the phase must wait for.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("{\n .reg .b64 state;\n mbarrier.arrive.expect_tx.shared::cta.b64 state, [%0], %1;\n}\n" ::"r"(smem_u32(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint64_t* bar) {
  asm volatile("{\n .reg .b64 state;\n mbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(smem_u32(bar)) : "memory");
}
/// True once the phase of parity `parity` has completed (a fresh barrier: parity 1 is complete).
__device__ __forceinline__ bool mbarrier_try_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(smem_u32(bar)), "r"(parity)
      : "memory");
  return done != 0;
}
/// Where the watchdog reports (host-mapped memory, readable after the trap killed the context);
/// null: trap silently. Layout: [0] = 1 when fired, [1] site, [2] block, [3] thread, [4] parity.
struct WatchdogReport {
  unsigned int* words = nullptr;
};

/// Blocks until the phase of parity `parity` completes; on a deadlock records the site, block,
/// thread and parity in the host-mapped report and traps. The whole loop is one asm block so
/// that a wait inside a wgmma pipeline costs the register allocator nothing but the loop's
/// temporaries (a C++ loop with a cold reporting path took ~80 registers from the consumers).
/// No printf: a call anywhere in the kernel serializes its wgmma pipelines (ptxas C7510).
__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, uint32_t parity, WaitSite site, WatchdogReport report) {
  asm volatile(
      "{\n"
      " .reg .pred done, early, no_report;\n"
      " .reg .u64 start, now;\n"
      " .reg .u32 id;\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      " @done bra WAIT_DONE;\n"
      " mov.u64 start, %%globaltimer;\n"
      "WAIT_LOOP:\n"
      " mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      " @done bra WAIT_DONE;\n"
      " mov.u64 now, %%globaltimer;\n"
      " sub.u64 now, now, start;\n"
      " setp.lt.u64 early, now, %4;\n"
      " @early bra WAIT_LOOP;\n"
      " setp.eq.u64 no_report, %3, 0;\n"
      " @no_report bra WAIT_TRAP;\n"
      " st.volatile.global.u32 [%3+4], %2;\n"
      " mov.u32 id, %%ctaid.x;\n"
      " st.volatile.global.u32 [%3+8], id;\n"
      " mov.u32 id, %%tid.x;\n"
      " st.volatile.global.u32 [%3+12], id;\n"
      " st.volatile.global.u32 [%3+16], %1;\n"
      " membar.sys;\n"
      " st.volatile.global.u32 [%3], 1;\n"
      " membar.sys;\n"
      "WAIT_TRAP:\n"
      " trap;\n"
      "WAIT_DONE:\n"
      "}\n" ::"r"(smem_u32(bar)),
      "r"(parity), "r"(static_cast<uint32_t>(site)), "l"(report.words), "l"(kWatchdogNanoseconds)
      : "memory");
}

/// Named barriers (ids 1..15; 0 is __syncthreads). `threads` counts every participant, a
/// multiple of 32: bar.sync waits, bar.arrive only counts itself in.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

/// Orders this thread's generic-proxy shared-memory writes before later async-proxy accesses
/// (TMA store, wgmma operand reads) of the same bytes.
__device__ __forceinline__ void fence_proxy_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

/// Register reallocation between warpgroups (sm_90a). Every warp of the warpgroup executes it.
template <int Registers>
__device__ __forceinline__ void setmaxnreg_increase() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Registers));
}
template <int Registers>
__device__ __forceinline__ void setmaxnreg_decrease() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Registers));
}

}  // namespace attn::hopper
