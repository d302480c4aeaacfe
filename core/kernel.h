// kernel.h: what every runnable attention implementation — reference at low precision, CPU
// emulator configuration, CUDA kernel, mutant, peer — looks like to sweeps, tests and reports.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/generators.h"
#include "core/kernel_config.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace attn {

/// Output of one run. `o` is [B, S_q, H_q, D] holding values exactly representable in
/// `out_dtype`; `lse` is [B, H_q, S_q], natural log-sum-exp of the scaled scores (empty if the
/// implementation does not produce it; -inf for fully masked rows).
struct AttentionOutputs {
  Tensor<double> o;
  Tensor<double> lse;
  DType out_dtype = DType::fp16;
  /// Optional measurements of this run, in milliseconds (an external worker's write / wait /
  /// read time and its own kernel time); sweeps store them with the row. Empty for most kernels.
  std::map<std::string, double> run_info;
};

/// Which pass over the sequence a kernel implements.
enum class KernelPath : uint8_t {
  full,             ///< every query against every key at once (prefill kernels, references, emulator)
  decode,           ///< new queries against a KV cache (split-KV flash-decoding)
  chunked_prefill,  ///< a chunk of new queries appended to, and attending over, a KV cache
};
const char* kernel_path_name(KernelPath path);  ///< "full" | "decode" | "chunked-prefill"

/// Stable metadata of a registered implementation. Experiments select kernels by the typed
/// fields (Registry::select), never by building or parsing names; `traits` is for display.
struct KernelInfo {
  /// Stable name. Variants and mutants follow kernels/variants.toml's grammar
  /// family.dtype.dD.tile[.variant][.mutant-NAME] ("fa2.bf16.d128.m64n64",
  /// "emu.fp16.dany.m64n64.mutant-stale-seqlens"); references and peers have their own ("naive-fp16").
  std::string name;
  std::string family;       ///< kind: "reference" | "emulator" | "cuda" | "mutant" | "peer"
  std::string description;  ///< one line for `attnscope list`
  std::map<std::string, std::string> traits;  ///< for display and result rows only; never parsed back
  bool needs_gpu = false;
  /// For mutants: the bug category it plants ("masking", "gqa", "cache-length", "rescaling",
  /// "intermediate-precision", "split-combine"); empty for a correct implementation.
  std::string planted_bug;

  // ---- typed, filled by the registration from the kernel's own traits -------------------------
  std::string design;              ///< the name's family: "fa2" | "decode" | "chunked" | "emu"; "" otherwise
  std::optional<DType> dtype;      ///< the one dtype it runs; nullopt: several (references)
  int head_dim = 0;                ///< the one head dim it runs; 0: any
  KernelPath path = KernelPath::full;
  Mutant mutant = Mutant::none;    ///< the planted bug (planted_bug is its category)
  bool is_default = false;         ///< the default variant of its (design, dtype, head_dim, path)
  /// The FA2 algorithm the emulator models it with (tiles, splits, P cast, lazy rescale, mutant);
  /// nullopt when there is no emulator model (decode kernels: FP32 CUDA-core numerics; references).
  std::optional<AlgorithmConfig> algorithm;
};

struct Kernel {
  KernelInfo info;
  /// Empty when the kernel can run `problem`; otherwise the reason (reported as INVALID by sweeps).
  std::function<std::optional<std::string>(const Problem&)> invalid_reason;
  std::function<AttentionOutputs(const Problem&, const AttentionInputs&)> run;
};

}  // namespace attn
