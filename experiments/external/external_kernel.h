// external_kernel.h: a kernel that lives outside attnscope, registered like any other (`Kernel`),
// run through a worker process. The worker is started at the first point it is asked to run and
// kept for the following ones (once per sweep); it is stopped when the last copy of the Kernel is
// destroyed.
//
// Protocol (JSON lines; one request, one answer, in order):
//   attnscope -> worker (stdin):  {"id": 12, "dir": "/tmp/attnscope-external-x/12",
//                                  "problem": {...experiments/external/problem_json.h...}}
//   The folder holds q.npy, k.npy, v.npy (and seq_lens.npy, int64, when the keys are a partly
//   filled cache) in the declared layout: bshd = q [B, S_q, H_q, D], k/v [B, S_k, H_kv, D];
//   bhsd = q [B, H_q, S_q, D], k/v [B, H_kv, S_k, D]. dtype fp16 as '<f2', fp32 as '<f4',
//   bf16 as '<u2' bit patterns (numpy has no bfloat16).
//   worker -> attnscope (stdout): {"id": 12, "ok": true}  after writing o.npy into the folder
//                                 (same layout; '<f2', bf16 as '<u2'/'<V2' bits, or '<f4'/'<f8'),
//                                 optional "kernel_ms": its kernel's own time, "run_ms": its time
//                                 computing (the rest of the point's wall time is the overhead);
//                                 {"id": 12, "ok": false, "error": "..."}  -> an ERROR row;
//                                 {"id": 12, "ok": false, "invalid": "..."} -> an INVALID row
//                                 (the worker cannot run this problem, e.g. no key-length mask).
//   The worker must write nothing else to stdout (logs go to stderr). EOF on stdin: exit.
//
// Judging the output: o.npy must have the problem's output shape in the declared layout and hold
// finite values. Its dtype is the stored one, except that '<f4'/'<f8' holding only values of the
// problem's dtype counts as that dtype (a worker that widens for convenience); other '<f4'
// output is judged as FP32.
//
// Failures are never passes. A worker that cannot be started, crashes, hangs past timeout_s
// (plus startup_timeout_s on the first point after a start), answers something that is not the
// protocol, or answers the wrong id is killed (its whole process group) and started again at the
// next point; after max_failures such failures in a row it is not started again and the
// remaining points fail at once. A missing o.npy, a wrong shape or non-finite values fail the
// point only. Every message names the kernel, the point and the tail of the worker's stderr.
#pragma once

#include <vector>

#include "core/kernel.h"
#include "core/registry.h"
#include "experiments/external/external_spec.h"

namespace attn {

Kernel make_external_kernel(const ExternalKernelSpec& spec);
/// Adds one Kernel per spec; throws attn::Error if a name is already registered.
void register_external_kernels(Registry& registry, const std::vector<ExternalKernelSpec>& specs);

}  // namespace attn
