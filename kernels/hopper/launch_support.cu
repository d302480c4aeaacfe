// launch_support.cu: device shape and watchdog buffer of the Hopper launchers (launch_support.h).
#include "kernels/hopper/launch_support.h"

#include <cuda_runtime.h>

#include <string>

namespace attn::hopper {

std::optional<std::string> fa3_paged_refusal(int page, int block_n, bool fp8_forward) {
  if (fp8_forward) return std::string("the FP8 forward quantizes a contiguous K / V; a paged cache needs a 16-bit fa3 variant");
  if (page < 8 || page % 8 != 0 || (block_n % page != 0 && page % block_n != 0))
    return "page size " + std::to_string(page) + " with " + std::to_string(block_n) +
           "-key tiles: the fa3 kernel's TMA boxes need a page size that divides the tile or is a multiple of it (and of 8)";
  return std::nullopt;
}

int gqa_pack(int64_t seqlen_q, int num_heads_q, int num_heads_kv) {
  if (num_heads_kv < 1 || num_heads_q % num_heads_kv != 0) return 1;
  const int group = num_heads_q / num_heads_kv;
  if (group > 64 || 64 % group != 0 || seqlen_q * group >= (int64_t{1} << 30)) return 1;
  return group;
}

bool gqa_packing_pays(int64_t seqlen_q, int num_heads_q, int num_heads_kv, int block_m) {
  const int pack = gqa_pack(seqlen_q, num_heads_q, num_heads_kv);
  if (pack == 1) return false;
  const int64_t packed = static_cast<int64_t>(num_heads_kv) * ((seqlen_q * pack + block_m - 1) / block_m);
  const int64_t unpacked = static_cast<int64_t>(num_heads_q) * ((seqlen_q + block_m - 1) / block_m);
  return packed < unpacked;
}

namespace {

struct WatchdogBuffer {
  unsigned int* host = nullptr;
  unsigned int* device = nullptr;
};

WatchdogBuffer& watchdog_buffer() {
  static WatchdogBuffer buffer = [] {
    WatchdogBuffer b;
    void* host = nullptr;
    if (cudaHostAlloc(&host, 8 * sizeof(unsigned int), cudaHostAllocMapped) != cudaSuccess) {
      cudaGetLastError();  // clear: the kernels then trap without a report
      return b;
    }
    b.host = static_cast<unsigned int*>(host);
    for (int i = 0; i < 8; ++i) b.host[i] = 0;
    void* device = nullptr;
    if (cudaHostGetDevicePointer(&device, host, 0) == cudaSuccess) b.device = static_cast<unsigned int*>(device);
    cudaGetLastError();
    return b;
  }();
  return buffer;
}

const char* site_name(unsigned int site) {
  switch (site) {
    case 1: return "q_full (consumer waits for Q)";
    case 2: return "q_empty (producer waits for the consumers to release Q)";
    case 3: return "k_full (consumer waits for K)";
    case 4: return "k_empty (producer waits for a K stage)";
    case 5: return "v_full (consumer waits for V)";
    case 6: return "v_empty (producer waits for a V stage)";
    case 7: return "ragged_tail (producer waits for a ragged K or V tile before zeroing its tail)";
    case 8: return "o_free (producer waits for the previous tile's O band, inside V's stages, to be stored)";
  }
  return "unknown";
}

}  // namespace

DeviceShape current_device_shape() {
  static const DeviceShape shape = [] {
    DeviceShape s;
    int device = 0, value = 0;
    if (cudaGetDevice(&device) != cudaSuccess) return s;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, device) == cudaSuccess && value > 0)
      s.multiprocessors = value;
    if (cudaDeviceGetAttribute(&value, cudaDevAttrL2CacheSize, device) == cudaSuccess && value > 0) s.l2_bytes = value;
    return s;
  }();
  return shape;
}

unsigned int* watchdog_device_words() { return watchdog_buffer().device; }

std::string watchdog_message() {
  volatile unsigned int* w = watchdog_buffer().host;
  if (w == nullptr || w[0] == 0) return "";
  const std::string msg = "hopper watchdog: block " + std::to_string(w[2]) + " thread " + std::to_string(w[3]) +
                          " stuck at " + site_name(w[1]) + ", parity " + std::to_string(w[4]);
  for (int i = 0; i < 8; ++i) w[i] = 0;
  return msg;
}

}  // namespace attn::hopper
