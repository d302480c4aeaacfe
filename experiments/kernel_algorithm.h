// kernel_algorithm.h: the bridge from a registered kernel to the emulator's model of it — the FA2
// algorithm its traits record (tiles, splits, P cast, lazy rescale, mutant), and the JSON form of
// an attribution of that algorithm. Used by sweeps and the incremental-vs-full experiment.
// A kernel without block_m / block_n traits (the CUDA decode kernels: FP32 CUDA-core math) has
// no emulator model: nullopt, and callers say "not modelled".
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/attribution.h"
#include "core/kernel_config.h"

namespace attn {

std::optional<AlgorithmConfig> algorithm_from_traits(const std::map<std::string, std::string>& traits);

/// {"categories": {category: {rmse2_share, max_abs}}, "stages": {...}, "dominant", "emulated_mse", "seconds"}.
nlohmann::json attribution_json(const AttributionResult& result);

}  // namespace attn
