// probe.h: active probing of a callable attention kernel (issue #16): crafted inputs, in the
// spirit of FPRev (USENIX ATC '25: inputs that make a black box's summation order visible), that
// reveal the kernel's semantics and numerics in a bounded number of calls (three):
//  1. semantics — every score 0 (uniform attention) and V one-hot per key plus a KV-head marker,
//     on the cache path (S_q < S_k, S_k not a multiple of any tile): the output lists, per query
//     row and head, the keys it saw (the mask's alignment, a stale or long cache length), how
//     many padded keys leaked into the softmax (the tile width of an unmasked tile edge), and
//     which KV head each query head read (the GQA mapping). Decoded directly, no model.
//  2. precision — one KV tile (16 keys, or the leaking tile), scores spread over many binades so
//     that P falls between the representable points of every candidate format: decides the
//     softmax form (online / two-pass), where P is rounded and to what, the scores' format (and a
//     scale folded into q or q,k), and the accumulator's format.
//  3. structure — 256 keys whose running maxima grow in chosen tiles (a steady climb, jumps at
//     positions inside 16-key groups, a fall, a wide spread): decides the KV tile width, the tile
//     order, split-KV runs and their LSE combine, and the rescale policy (every tile, lazy, an
//     FP16 factor, never: P before the final max).
// Calls 2 and 3 are decoded against candidate models: each candidate is a PrecisionHypothesis
// (analysis/precision_hypotheses.h, tensor-core products) run on the same input, and the one whose
// output equals the kernel's in the most elements wins; a trait whose alternatives predict the
// same output on the crafted input is reported as not observable (e.g. the tile width of a kernel
// that never rounds P below FP32).
// What it is not: a statistical fingerprint of an arbitrary output (analysis/fingerprint.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/kernel.h"

namespace attn {

/// What the probe found out, in the words of the card.
struct ProbeCard {
  // Semantics (call 1).
  std::string mask = "?";   ///< bottom-right | top-left | none | ? (as aligned on the cache path)
  int key_delta = 0;        ///< keys read minus keys declared: -1 = the newest key is not read
  int leak_tile = 0;        ///< > 0: keys padded to a multiple of this leak into the softmax
  std::string gqa = "?";    ///< contiguous | interleaved | ?
  // Precision (call 2).
  std::string softmax = "?";      ///< online | two-pass
  std::string scores = "?";       ///< fp32 | fp16 | bf16: the format QK^T is rounded to
  std::string scale_fold = "";    ///< "" | "q" | "q,k": the scale applied to the operands in the input dtype
  std::string p_format = "?";     ///< fp32 | fp16 | bf16 | e5m2 | e4m3: what P is cast to before PV
  std::string accumulator = "?";  ///< fp32 | fp16 | bf16 (and "/16": rounded every 16-key MMA step)
  // Structure (call 3; online form only).
  int block_n = 0;                ///< KV tile width; 0 = not observable or not tiled
  std::string order = "n/a";      ///< forward | reverse | n/a
  int num_splits = 1;             ///< split-KV runs over 256 keys (0 = not observable)
  std::string rescale = "n/a";    ///< every tile | lazy N | alpha fp16 | never (P before the final max) | n/a
  std::string combine = "n/a";    ///< base-2 LSE | base-2 LSE read as natural | n/a (one split)

  /// "block_n 64, forward order, P fp16 before PV, FP32 accumulators, rescale every tile,
  /// bottom-right mask, contiguous GQA" (plus the traits that differ from that).
  std::string to_string() const;
  bool operator==(const ProbeCard&) const = default;
};

struct ProbeResult {
  ProbeCard card;
  int calls = 0;                   ///< kernel calls made (bounded: 3)
  DType dtype = DType::fp16;       ///< input dtype probed
  int64_t head_dim = 0;
  std::vector<std::string> notes;  ///< per call: what it decided and how clearly (match counts)
};

struct ProbeOptions {
  int threads = 0;  ///< for the candidate models (0: hardware concurrency)
};

/// Probes `kernel` (its run function; invalid_reason picks a dtype and head dim it accepts:
/// FP16 then BF16, D 64 then 128 then 32). Throws ProblemError when it accepts none.
ProbeResult probe_kernel(const Kernel& kernel, const ProbeOptions& options = {});

/// The card a registered kernel's declared traits imply (emulator configurations and mutants, the
/// CUDA prefill variants and their mutants, the naive references); nullopt when its traits do not
/// say (decode / chunked kernels, external kernels) or fall outside the card (FP8 operands).
std::optional<ProbeCard> card_from_traits(const KernelInfo& info);

}  // namespace attn
