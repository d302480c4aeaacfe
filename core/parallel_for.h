// parallel_for.h: run fn(item) for item = 0..count-1 on a few std::threads, items handed out
// one at a time from an atomic counter. The references, the emulator and the attribution use it
// over (batch, head, row block) work items; every item writes disjoint outputs, so the result
// does not depend on the thread count or the schedule. The one parallel_for of the project. Not
// a task system: no nesting, the first exception is rethrown (remaining items are not started).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace attn {

/// Threads to use when the caller does not say: the machine's hardware concurrency (>= 1).
inline int default_thread_count() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

/// Calls fn(i) for every i in [0, count) on up to `threads` threads (<= 0: default).
/// `at_thread_exit` runs on each worker thread after its last item (e.g. to free MPFR's
/// per-thread constant caches, which would otherwise outlive the thread as leaks).
template <class Fn, class Exit = void (*)()>
void parallel_for(int64_t count, int threads, Fn fn, Exit at_thread_exit = [] {}) {
  if (threads <= 0) threads = default_thread_count();
  const int64_t workers = std::min<int64_t>(threads, count);
  if (workers <= 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (int64_t i = next++; i < count; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        next = count;  // stop handing out work
      }
    }
    at_thread_exit();
  };
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < workers; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace attn
