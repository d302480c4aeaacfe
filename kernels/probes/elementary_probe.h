// elementary_probe.h: runs core/pipeline/fp32_elementary.h's exp_fp32 / log_fp32 on the device
// over given inputs, so that tests compare their bits with the host's (the decode emulator's
// bit-exactness rests on it). Plain C++ interface; built only with CUDA. Not a benchmark.
#pragma once

#include <vector>

namespace attn {

/// exp_fp32(x) and log_fp32(x) of every x, computed on the device.
struct ElementaryProbe {
  std::vector<float> exp, log;
};
ElementaryProbe run_elementary_probe(const std::vector<float>& x);

}  // namespace attn
