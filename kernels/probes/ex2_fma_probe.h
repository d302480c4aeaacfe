// ex2_fma_probe.h: runs core/pipeline/ex2_fma.h's ex2_fma (the FP8 forward's exponential on the
// FMA pipes) on the device over given inputs, so that a test compares its bits with the host's
// (the FP8 emulator's exactness on those elements rests on it). Plain C++ interface; built only
// with CUDA. Not a benchmark.
#pragma once

#include <vector>

namespace attn {

/// ex2_fma(x) of every x, computed on the device.
std::vector<float> run_ex2_fma_probe(const std::vector<float>& x);

}  // namespace attn
