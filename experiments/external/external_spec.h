// external_spec.h: an `[[external]]` entry of a sweep file — a kernel that lives outside
// attnscope (Triton, a PyTorch extension, another team's CUDA) and is driven through a worker
// process speaking JSON lines (experiments/external/external_kernel.h has the protocol).
//
//   [[external]]
//   name = "my-triton-fa"                        # usable in kernels = [...] like a registered name
//   command = ["python3", "my_worker.py", "--backend", "x"]   # argument vector, never a shell
//   layout = "bhsd"                              # or "bshd": how q/k/v/o are laid out in the .npy files
//   dtypes = ["fp16", "bf16"]                    # what it supports; other points are INVALID rows
//   timeout_s = 60                               # per point (default 60)
//   startup_timeout_s = 120                      # added to the first point after a (re)start
//   env = { CUDA_VISIBLE_DEVICES = "0" }         # added to the inherited environment
//   planted_bug = "masking"                      # optional: a deliberately wrong kernel (mutant)
//   family = "peer"                              # optional: "external" (default), "peer", "mutant"
//   description = "..."                          # optional, for `list` and reports
//   max_failures = 3                             # consecutive protocol failures before giving up
//
// A command element starting with "{spec_dir}" (and "{spec_dir}" in an env value) is replaced by
// the sweep file's directory, so a committed spec can name a worker beside it wherever attnscope
// is started from.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/layout.h"

namespace attn {

struct ExternalKernelSpec {
  std::string name;
  std::vector<std::string> command;
  TensorLayout layout = TensorLayout::bshd;
  std::vector<DType> dtypes{DType::fp16, DType::bf16};
  double timeout_s = 60;
  double startup_timeout_s = 120;
  std::map<std::string, std::string> env;
  std::string planted_bug;
  std::string family = "external";
  std::string description;
  int max_failures = 3;
};

}  // namespace attn
