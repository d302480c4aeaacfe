// io_npz.h: reading .npz archives as numpy writes them: numpy.savez (members stored) and
// numpy.savez_compressed (members deflated; inflated with zlib), zip64 records included. Every
// size and offset is bounds-checked; members that share data, duplicate names, CRC mismatches and
// sizes beyond the memory limit (core/memory_budget.h) are refused before anything is decoded.
#pragma once

#include <string>
#include <string_view>

#include "core/io_npy.h"
#include "core/io_safetensors.h"

namespace attn {

TensorFile read_npz(const std::string& path);
TensorFile parse_npz(std::string_view bytes, const std::string& origin);

}  // namespace attn
