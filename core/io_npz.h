// io_npz.h: reading .npz archives as written by numpy.savez (a zip of .npy files, stored
// without compression; zip64 records as numpy writes them). Deflated members (numpy.savez_compressed)
// are rejected with a message that says how to re-save. Every size and offset is bounds-checked.
#pragma once

#include <string>

#include "core/io_npy.h"
#include "core/io_safetensors.h"

namespace attn {

TensorFile read_npz(const std::string& path);
TensorFile parse_npz(const std::string& bytes, const std::string& origin);

}  // namespace attn
