// test_decode_dispatch.cpp: which decode kernel the production entry picks, checked on the host
// (the registry of a CUDA build lists its GPU kernels without a device): per dtype and head dim
// exactly one correct decode kernel is the default, it is the tensor-core kernel's 12-warp form
// (mma12-split: the faster one on the H200, reports/h200/decode/call7, call8), it refuses no
// problem the CUDA-core kernel runs, and the CUDA-core and bulk kernels stay reachable by name. CPU-only
// builds register no decode kernel and compile no test case here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/problem.h"
#include "core/registry.h"
#include "experiments/register_all.h"
#include "kernels/chunked/register_chunked_prefill.h"
#include "kernels/decode/register_decode_kernels.h"

namespace attn {

#if defined(ATTNSCOPE_HAVE_CUDA)
TEST_CASE("the default decode kernel is the 12-warp tensor-core one; CUDA-core and bulk are named variants", "[decode][dispatch]") {
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int d : {64, 128}) {
      INFO(dtype_name(dtype) << " d" << d);
      const auto defaults =
          all_kernels().select({.design = "decode", .dtype = dtype, .head_dim = d, .mutant = Mutant::none, .default_only = true});
      REQUIRE(defaults.size() == 1);
      const Kernel& def = *defaults.front();
      CHECK(def.info.traits.at("kernel").rfind("tensor-cores (12 warp", 0) == 0);
      CHECK(def.info.name == "decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(d) + ".m64n64.mma12-split");
      REQUIRE(def.info.algorithm.has_value());
      CHECK(def.info.algorithm->decode.warp_streams == 12);
      CHECK(def.info.algorithm->tiles.block_m == 8);
      CHECK(def.info.algorithm->tiles.block_n == 16);
      const Kernel* cores = all_kernels().find("decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(d) + ".m64n64.split");
      REQUIRE(cores != nullptr);
      CHECK_FALSE(cores->info.is_default);
      CHECK(cores->info.traits.at("kernel").rfind("cuda-cores", 0) == 0);
      // Every S_q x group the CUDA-core kernel takes (up to 128 rows per KV head), the default takes.
      for (int64_t sq : {1, 2, 3, 4, 16})
        for (int64_t group : {1, 4, 8}) {
          Problem pr;
          pr.batch = 2;
          pr.seqlen_q = sq;
          pr.seqlen_k = 300;
          pr.num_heads_kv = 2;
          pr.num_heads_q = 2 * group;
          pr.head_dim = d;
          pr.dtype = dtype;
          INFO("S_q " << sq << " group " << group);
          CHECK(cores->invalid_reason(pr).has_value() == def.invalid_reason(pr).has_value());
          CHECK_FALSE(def.invalid_reason(pr).has_value());
        }
      const std::string bulk_name = "decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(d) + ".m64n64.bulk-split";
      const Kernel* bulk = all_kernels().find(bulk_name);
      REQUIRE(bulk != nullptr);
      CHECK_FALSE(bulk->info.is_default);
      CHECK(bulk->info.traits.at("kernel").rfind("bulk", 0) == 0);
    }
}

TEST_CASE("the FP8-cache decode variants: the 12-warp tensor-core kernel, registered, never the default", "[decode][dispatch][fp8]") {
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int d : {64, 128})
      for (const char* form : {"mma12-fp8-split", "mma12-fp8-paged16"}) {
        const std::string name = "decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(d) + ".m64n64." + form;
        INFO(name);
        const DecodeVariant* v = nullptr;
        for (const DecodeVariant& r : decode_variants()) v = r.name == name ? &r : v;
        REQUIRE(v != nullptr);
        CHECK(v->fp8_cache);
        CHECK(v->kind == DecodeKernelKind::mma);
        CHECK(v->mma_warps == 12);
        const Kernel* k = all_kernels().find(name);
        REQUIRE(k != nullptr);
        CHECK_FALSE(k->info.is_default);
        CHECK_FALSE(k->info.algorithm.has_value());  // the emulator runs its 16-bit twin on the dequantized cache
        Problem pr;
        pr.batch = 2;
        pr.seqlen_q = 4;
        pr.seqlen_k = 300;
        pr.num_heads_kv = 2;
        pr.num_heads_q = 16;  // 32 rows per KV head: four 8-row blocks
        pr.head_dim = d;
        pr.dtype = dtype;
        CHECK_FALSE(k->invalid_reason(pr).has_value());
        // The CUDA-core kernel does not read an E4M3 cache: refused by name, not launched.
        DecodeVariant cores = *v;
        cores.kind = DecodeKernelKind::cuda_cores;
        const auto why = make_decode_kernel(cores).invalid_reason(pr);
        REQUIRE(why.has_value());
        CHECK(why->find("FP8 cache") != std::string::npos);
      }
}

namespace {

/// B 2 entries over a 300-key cache, 8 query / 2 KV heads, S_q new rows: a shape every cache
/// kernel of (dtype, d) accepts.
Problem cache_problem(DType dtype, int d, int64_t seqlen_q) {
  Problem pr;
  pr.batch = 2;
  pr.seqlen_q = seqlen_q;
  pr.seqlen_k = 300;
  pr.num_heads_kv = 2;
  pr.num_heads_q = 8;
  pr.head_dim = d;
  pr.dtype = dtype;
  return pr;
}

}  // namespace

TEST_CASE("the FP8-cache mutants: the four cache bugs on the 12-warp E4M3 path, D 128, refused elsewhere", "[decode][dispatch][fp8]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    int found = 0;
    for (const DecodeVariant& v : decode_variants()) {
      if (!v.fp8_cache || v.mutant == Mutant::none || v.dtype != dtype) continue;
      INFO(v.name);
      ++found;
      CHECK(v.kind == DecodeKernelKind::mma);
      CHECK(v.mma_warps == 12);
      CHECK(v.head_dim == 128);
      CHECK(v.fixed_split_keys == 64);
      CHECK(v.name.find(".mma12-fp8-fixed64.mutant-") != std::string::npos);
      const Kernel* k = all_kernels().find(v.name);
      REQUIRE(k != nullptr);
      CHECK(k->info.mutant == v.mutant);
      CHECK_FALSE(k->info.is_default);
      // The bulk kernel's FP8 path has no mutants: the same bug on it is refused by name.
      DecodeVariant bulk = v;
      bulk.kind = DecodeKernelKind::bulk;
      const Problem pr = cache_problem(dtype, 128, 1);
      CHECK_FALSE(k->invalid_reason(pr).has_value());
      const auto why = make_decode_kernel(bulk).invalid_reason(pr);
      REQUIRE(why.has_value());
      CHECK(why->find("FP8 cache") != std::string::npos);
    }
    CHECK(found == 4);
  }
}

TEST_CASE("chunked prefill over an FP8 cache: contiguous and paged 16 per default fa2 and fa3 tile", "[decode][dispatch][fp8]") {
  int found = 0;
  for (const ChunkedPrefillVariant& v : chunked_variants()) {
    if (!v.fp8_cache) continue;
    INFO(v.name);
    ++found;
    CHECK((v.page_size == 0 || v.page_size == 16));
    const bool fa3 = v.prefill.rfind("fa3.", 0) == 0;
    const std::string suffix = std::string(fa3 ? ".fa3-fp8" : ".fp8") + (v.page_size ? "-paged16" : "");
    CHECK(v.name.substr(v.name.size() - suffix.size()) == suffix);
    const Kernel* k = all_kernels().find(v.name);
    REQUIRE(k != nullptr);
    CHECK_FALSE(k->info.is_default);
    CHECK(k->info.traits.at("fp8_cache") == "true");
    CHECK_FALSE(k->info.algorithm.has_value());  // its algorithm runs on the dequantized cache, not on the inputs
    CHECK(k->info.mutant == Mutant::none);
    // The 16-bit twin (the same prefill kernel and page size) is registered too.
    bool twin = false;
    for (const ChunkedPrefillVariant& t : chunked_variants())
      twin = twin || (!t.fp8_cache && t.prefill == v.prefill && t.page_size == v.page_size && t.name.find("mutant") == std::string::npos);
    CHECK(twin);
  }
  CHECK(found == 2 * 2 * 4);  // FP16 / BF16 x D 64 / 128 x (fa2, fa3) x (contiguous, paged 16)
}

TEST_CASE("chunked prefill on the fa3 kernel: its default tile per dtype and D, contiguous and paged, never the default; its cache-path mutants", "[decode][dispatch]") {
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int d : {64, 128}) {
      std::vector<int> pages, packed_pages;
      int mutants = 0;
      for (const ChunkedPrefillVariant& v : chunked_variants()) {
        if (v.fp8_cache || v.prefill.rfind("fa3.", 0) != 0) continue;
        const Kernel* k = all_kernels().find(v.name);
        REQUIRE(k != nullptr);
        if (k->info.dtype != dtype || k->info.head_dim != d) continue;
        INFO(v.name);
        if (k->info.mutant != Mutant::none) {
          // The fa3 cache-path mutants over a paged cache: the fa3 mutant of the same bug reads it.
          ++mutants;
          CHECK(v.page_size == 16);
          CHECK(d == 64);  // the fa3 mutants are compiled for D = 64
          const Kernel* prefill = all_kernels().find(v.prefill);
          REQUIRE(prefill != nullptr);
          CHECK(prefill->info.mutant == k->info.mutant);
          CHECK((k->info.mutant == Mutant::top_left_in_cache_path || k->info.mutant == Mutant::interleaved_gqa_in_cache_path));
          CHECK(v.name.find(".fa3-paged16.mutant-") != std::string::npos);
          continue;
        }
        const bool packed = v.name.find(".fa3-pack-gqa") != std::string::npos;
        (packed ? packed_pages : pages).push_back(v.page_size);
        const std::string suffix = (packed ? std::string(".fa3-pack-gqa") : std::string(".fa3")) +
                                   (v.page_size ? "-paged" + std::to_string(v.page_size) : std::string());
        CHECK(v.name.substr(v.name.size() - suffix.size()) == suffix);
        const Kernel* prefill = all_kernels().find(v.prefill);
        REQUIRE(prefill != nullptr);
        // the fa3 default tile of (dtype, D), or its pack-gqa variant (same tile, same arithmetic)
        CHECK(prefill->info.is_default != packed);
        if (packed) CHECK(v.prefill.substr(v.prefill.size() - 9) == ".pack-gqa");
        CHECK(prefill->info.design == "fa3");
        CHECK_FALSE(k->info.is_default);  // the chunked default stays the FA2 one (contiguous)
        REQUIRE(k->info.algorithm.has_value());
        CHECK(k->info.algorithm->tiles.block_m == prefill->info.algorithm->tiles.block_m);
        const Problem pr = cache_problem(dtype, d, 3);
        CHECK_FALSE(k->invalid_reason(pr).has_value());
        // Page sizes whose TMA boxes would split a page across tiles (or not start a swizzle atom)
        // are refused by name, with the reason.
        for (int bad : {100, 48, 24}) {
          ChunkedPrefillVariant paged = v;
          paged.page_size = bad;
          const auto why = make_chunked_prefill_kernel(paged).invalid_reason(pr);
          REQUIRE(why.has_value());
          CHECK(why->find("page size " + std::to_string(bad)) != std::string::npos);
        }
      }
      std::sort(pages.begin(), pages.end());
      std::sort(packed_pages.begin(), packed_pages.end());
      CHECK(pages == std::vector<int>{0, 16, 256});
      CHECK(packed_pages == std::vector<int>{0, 16});
      CHECK(mutants == (d == 64 ? 2 : 0));
    }
}
#endif

}  // namespace attn
