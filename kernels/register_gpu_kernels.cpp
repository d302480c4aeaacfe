#include "kernels/register_gpu_kernels.h"

namespace attn {

#if !defined(ATTNSCOPE_HAVE_CUDA)
void register_gpu_kernels(Registry&) {}
bool gpu_available(std::string* why) {
  if (why) *why = "this build has no CUDA (nvcc was not found or ATTNSCOPE_ENABLE_CUDA=OFF)";
  return false;
}
#endif

}  // namespace attn
