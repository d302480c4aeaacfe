// Diagnosis of real black-box outputs: PyTorch SDPA dumps made on an H100 (reports/h100/
// sdpa-diagnosis/, made by experiments/peers/dump_torch_sdpa.py). SDPA's is_causal with
// S_q != S_k is top-left aligned: against attnscope's bottom-right contract that is a masking bug,
// and declaring top-left makes it correct; the square flash dump is correct. The precision
// fingerprint (issue #16) names their numerics: cuDNN and flash FA2-style, the math backend upcast.
#include <catch2/catch.hpp>

#include "analysis/diagnosis.h"
#include "core/io_safetensors.h"

namespace {

attn::Diagnosis diagnose_dump(const std::string& name, attn::MaskKind mask) {
  const attn::TensorFile f =
      attn::read_safetensors(std::string(ATTNSCOPE_SOURCE_DIR) + "/reports/h100/sdpa-diagnosis/" + name);
  const attn::AttentionInputs in{f.tensors.at("q").values, f.tensors.at("k").values, f.tensors.at("v").values};
  attn::Problem p;
  p.batch = in.q.dim(0);
  p.seqlen_q = in.q.dim(1);
  p.num_heads_q = in.q.dim(2);
  p.head_dim = in.q.dim(3);
  p.seqlen_k = in.k.dim(1);
  p.num_heads_kv = in.k.dim(2);
  p.dtype = attn::stored_float_dtype(f.tensors.at("q").type);
  p.mask = {mask};
  return attn::diagnose(p, in, f.tensors.at("o").values, p.dtype);
}

}  // namespace

TEST_CASE("SDPA is_causal with S_q != S_k (cuDNN, math) is diagnosed as a top-left mask") {
  for (const char* name : {"sdpa_cudnn_fp16_sq10_sk74_h8-2_causal.safetensors",
                           "sdpa_math_fp16_sq10_sk74_h8-2_causal.safetensors"}) {
    INFO(name);
    const attn::Diagnosis dx = diagnose_dump(name, attn::MaskKind::causal_bottom_right);
    CHECK(dx.verdict == "semantic bug");
    CHECK(dx.category == "masking");
    CHECK(dx.bug.rfind("top-left", 0) == 0);
    CHECK(diagnose_dump(name, attn::MaskKind::causal_top_left).verdict == "no semantic bug");
  }
}

TEST_CASE("SDPA flash with S_q == S_k: no semantic bug") {
  const attn::Diagnosis dx =
      diagnose_dump("sdpa_flash_bf16_sq128_sk128_h8-2_causal.safetensors", attn::MaskKind::causal_bottom_right);
  CHECK(dx.verdict == "no semantic bug");
  CHECK(dx.declared.excess < 4.0);
}

TEST_CASE("H100 SDPA dumps: cuDNN and flash as FA2-style numerics, the math backend as upcast") {
  // reports/h100/sdpa-diagnosis/ (torch on an H100; the math backend upcasts to FP32 since 2.5).
  const attn::Diagnosis cudnn =
      diagnose_dump("sdpa_cudnn_fp16_sq10_sk74_h8-2_causal.safetensors", attn::MaskKind::causal_top_left);
  REQUIRE(cudnn.precision);
  CHECK(cudnn.precision->label == "FA2-style");
  const attn::Diagnosis math =
      diagnose_dump("sdpa_math_fp16_sq10_sk74_h8-2_causal.safetensors", attn::MaskKind::causal_top_left);
  REQUIRE(math.precision);
  CHECK(math.precision->label == "upcast");
  const attn::Diagnosis flash =
      diagnose_dump("sdpa_flash_bf16_sq128_sk128_h8-2_causal.safetensors", attn::MaskKind::causal_bottom_right);
  REQUIRE(flash.precision);
  CHECK(flash.precision->label == "FA2-style");
  CHECK(flash.precision->fits[0].correlation > 0.99);
}
