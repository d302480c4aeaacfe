// case_file.h: a test case handed to a kernel team (`attnscope make-inputs`, attnscope.make_case)
// and read back to judge their output (`attnscope check`). One safetensors file:
//   q, k, v      the quantized inputs in the problem's dtype (F16 / BF16 / F32), in the case's
//                layout (bshd = [B, S, H, D], bhsd = [B, H, S, D])
//   seq_lens     I64 [B], valid keys per batch entry (only when the keys are a partly filled cache)
//   truth        F64, the exact attention of the quantized inputs (references/truth.h), same layout
//   metadata     attnscope.format = "attnscope-case/1"; attnscope.problem (experiments/external/
//                problem_json.h: mask, scale, GQA, layout, dtype, seq_lens); attnscope.inputs
//                (distribution, seed); attnscope.truth (method, certified FP64 gap); attnscope.floor
//                (the rounding floor's metrics: a perfect kernel's error); attnscope.baseline (the
//                same-precision naive baseline's error and the FA-rule bound); attnscope.provenance.
// Reading validates all of it against the problem (shapes, dtypes, layout, seq_lens) and names
// what does not fit.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/layout.h"
#include "references/truth.h"

namespace attn {

inline constexpr char kCaseFormat[] = "attnscope-case/1";

struct CaseFile {
  Problem problem;
  InputSpec input_spec;
  TensorLayout layout = TensorLayout::bshd;
  AttentionInputs inputs;   ///< [B, S, H, D], quantized to problem.dtype
  Truth truth;              ///< o [B, S_q, H_q, D]; method and certified gap (lse not stored)
  nlohmann::json floor;     ///< metrics of round_T(truth) vs truth
  nlohmann::json baseline;  ///< naive-<dtype> metrics and fa_rule_bound (null when no baseline)
  nlohmann::json provenance;
};

/// Generates the inputs a sweep point of this problem / distribution / seed uses, and computes the
/// truth, the floor and the baseline.
CaseFile make_case(const Problem& problem, const InputSpec& spec, TensorLayout layout, const std::string& command);
void write_case(const std::string& path, const CaseFile& c);
/// Throws FileFormatError naming the file and what is missing or inconsistent.
CaseFile read_case(const std::string& path);

}  // namespace attn
