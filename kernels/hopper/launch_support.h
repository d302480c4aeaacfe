// launch_support.h: host-side facts the Hopper launchers need once per process — the device's
// multiprocessor count and L2 size (persistent grid, scheduler sections) — and the watchdog
// buffer: host-mapped words a deadlocked barrier wait fills before it traps, readable after the
// trap has killed the CUDA context. Plain C++ (usable from the registry code).
#pragma once

#include <string>

namespace attn::hopper {

/// Multiprocessors and L2 bytes of the current device (read once per process).
struct DeviceShape {
  int multiprocessors = 132;
  int l2_bytes = 50 << 20;
};
DeviceShape current_device_shape();

/// Device pointer of the 8 host-mapped watchdog words (null when mapped memory is unavailable).
unsigned int* watchdog_device_words();
/// "" when the watchdog has not fired; else which wait site, block, thread and parity it saw
/// (and the words are cleared).
std::string watchdog_message();

}  // namespace attn::hopper
