// provenance.h: what every result row and report records about where it came from: the commit
// (and whether the tree was modified), host, GPU/driver/CUDA when present, compiler and numerics
// flags, UTC time, and the exact command.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace attn {

nlohmann::json collect_provenance(const std::string& command);

}  // namespace attn
