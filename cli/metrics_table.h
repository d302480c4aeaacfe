// metrics_table.h: the table `attnscope run` prints for one output against the truth — kernel,
// rounding floor and naive baseline metrics, excess, the FlashAttention rule, NaN/Inf, fully
// masked rows, the truth's method — shared by `run` and `check` so both print the same thing.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace attn::cli {

/// A number as %.4g ("-" for null).
std::string short_number(const nlohmann::json& x);
/// `metrics` is experiments/sweep_runner.h evaluate_output's JSON.
void print_metrics_table(const nlohmann::json& metrics);

}  // namespace attn::cli
