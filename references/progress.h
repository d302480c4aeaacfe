// progress.h: progress lines for the long reference passes (FP64 truth, certification, MPFR,
// baseline at S = 8k-32k on a CPU). Workers call advance() from any thread; a line
// "<what>: 42% (12.3 s, about 17 s left)" goes to the callback at most every `interval` seconds,
// and never for a pass that ends before the first interval (short runs stay quiet). Not a
// logger: the callback decides where the line goes (the CLI writes it to stderr).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace attn {

using ProgressCallback = std::function<void(const std::string&)>;

class ProgressMeter {
 public:
  ProgressMeter(ProgressCallback callback, std::string what, int64_t total, double interval_seconds = 5.0)
      : callback_(std::move(callback)), what_(std::move(what)), total_(total), interval_(interval_seconds) {}

  /// Records `done` more units of work (thread-safe); may emit one line.
  void advance(int64_t done = 1) {
    const int64_t now_done = done_ += done;
    if (!callback_ || total_ <= 0) return;
    const double elapsed = seconds();
    if (elapsed < next_report_) return;
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || elapsed < next_report_) return;
    next_report_ = elapsed + interval_;
    const double fraction = static_cast<double>(now_done) / static_cast<double>(total_);
    char line[256];
    if (fraction > 0 && fraction < 1)
      std::snprintf(line, sizeof line, "%s: %.0f%% (%.1f s, about %.0f s left)", what_.c_str(), 100 * fraction, elapsed,
                    elapsed * (1 - fraction) / fraction);
    else
      std::snprintf(line, sizeof line, "%s: %.0f%% (%.1f s)", what_.c_str(), 100 * fraction, elapsed);
    callback_(line);
  }

  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  ProgressCallback callback_;
  std::string what_;
  int64_t total_;
  double interval_;
  std::atomic<int64_t> done_{0};
  std::atomic<double> next_report_{interval_};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace attn
