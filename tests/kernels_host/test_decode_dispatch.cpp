// test_decode_dispatch.cpp: which decode kernel the production entry picks, checked on the host
// (the registry of a CUDA build lists its GPU kernels without a device): per dtype and head dim
// exactly one correct decode kernel is the default, it is the CUDA-core kernel (the faster one on
// the H200, reports/h200/decode/call2), and the bulk kernel stays reachable by name only. CPU-only
// builds register no decode kernel and compile no test case here.
#include <catch2/catch.hpp>

#include <string>

#include "core/registry.h"
#include "experiments/register_all.h"

namespace attn {

#if defined(ATTNSCOPE_HAVE_CUDA)
TEST_CASE("the default decode kernel is the CUDA-core one; the bulk kernel is a named variant", "[decode][dispatch]") {
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int d : {64, 128}) {
      INFO(dtype_name(dtype) << " d" << d);
      const auto defaults =
          all_kernels().select({.design = "decode", .dtype = dtype, .head_dim = d, .mutant = Mutant::none, .default_only = true});
      REQUIRE(defaults.size() == 1);
      CHECK(defaults.front()->info.traits.at("kernel").rfind("cuda-cores", 0) == 0);
      const std::string bulk_name = "decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(d) + ".m64n64.bulk-split";
      const Kernel* bulk = all_kernels().find(bulk_name);
      REQUIRE(bulk != nullptr);
      CHECK_FALSE(bulk->info.is_default);
      CHECK(bulk->info.traits.at("kernel").rfind("bulk", 0) == 0);
    }
}
#endif

}  // namespace attn
