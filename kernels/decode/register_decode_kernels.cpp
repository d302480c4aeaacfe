#include "kernels/decode/register_decode_kernels.h"

namespace attn {
void register_decode_kernels(Registry&) {}  // filled in by the decode-kernel work
}
