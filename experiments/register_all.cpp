#include "experiments/register_all.h"

#include "analysis/register_emulator_kernels.h"
#include "kernels/chunked/register_chunked_prefill.h"
#include "kernels/decode/register_decode_kernels.h"
#include "kernels/register_gpu_kernels.h"
#include "references/register_reference_kernels.h"

namespace attn {

const Registry& all_kernels() {
  static const Registry registry = [] {
    Registry r;
    register_reference_kernels(r);
    register_emulator_kernels(r);
    register_gpu_kernels(r);
    register_decode_kernels(r);
    register_chunked_prefill_kernels(r);
    return r;
  }();
  return registry;
}

}  // namespace attn
