#include "core/kernel_config.h"

#include "core/errors.h"

namespace attn {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::qk_product: return "qk_product";
    case Stage::exp: return "exp";
    case Stage::rescale: return "rescale";
    case Stage::p_cast: return "p_cast";
    case Stage::pv_accumulate: return "pv_accumulate";
    case Stage::normalize: return "normalize";
    case Stage::output_round: return "output_round";
  }
  return "?";
}

const char* stage_category(Stage s) {
  switch (s) {
    case Stage::qk_product: return "accumulation order";
    case Stage::pv_accumulate: return "accumulation order";
    case Stage::exp: return "intermediate precision";
    case Stage::p_cast: return "intermediate precision";
    case Stage::rescale: return "rescaling";
    case Stage::normalize: return "output rounding";
    case Stage::output_round: return "output rounding";
  }
  return "?";
}

namespace {
constexpr Mutant kAllMutants[] = {Mutant::none,
                                  Mutant::top_left_in_cache_path,
                                  Mutant::unmasked_tile_edges,
                                  Mutant::interleaved_gqa_in_cache_path,
                                  Mutant::stale_seqlens,
                                  Mutant::p_cast_before_final_max,
                                  Mutant::rescale_in_fp16,
                                  Mutant::base2_lse_natural_combine};
}

const char* mutant_name(Mutant m) {
  switch (m) {
    case Mutant::none: return "none";
    case Mutant::top_left_in_cache_path: return "top-left-cache";
    case Mutant::unmasked_tile_edges: return "unmasked-tile-edges";
    case Mutant::interleaved_gqa_in_cache_path: return "interleaved-gqa-cache";
    case Mutant::stale_seqlens: return "stale-seqlens";
    case Mutant::p_cast_before_final_max: return "p-cast-before-max";
    case Mutant::rescale_in_fp16: return "rescale-fp16";
    case Mutant::base2_lse_natural_combine: return "base2-lse-combine";
  }
  return "?";
}

Mutant parse_mutant(const std::string& text) {
  std::string names;
  for (Mutant m : kAllMutants) {
    if (text == mutant_name(m)) return m;
    names += (names.empty() ? "" : ", ") + std::string(mutant_name(m));
  }
  throw Error("unknown mutant '" + text + "' (allowed: " + names + ")");
}

const char* mutant_category(Mutant m) {
  switch (m) {
    case Mutant::none: return "";
    case Mutant::top_left_in_cache_path: return "masking";
    case Mutant::unmasked_tile_edges: return "masking";
    case Mutant::interleaved_gqa_in_cache_path: return "gqa";
    case Mutant::stale_seqlens: return "cache-length";
    case Mutant::p_cast_before_final_max: return "rescaling";
    case Mutant::rescale_in_fp16: return "rescaling";
    case Mutant::base2_lse_natural_combine: return "split-combine";
  }
  return "";
}

std::string AlgorithmConfig::describe() const {
  std::string s = "m" + std::to_string(tiles.block_m) + "n" + std::to_string(tiles.block_n);
  if (numerics == KernelNumerics::flash_decoding) {
    s = "decode." + s + (decode.qk == DecodeQk::mma ? ".mma" : "");
    if (decode.heads_per_cta > 1) s += ".h" + std::to_string(decode.heads_per_cta);
    if (decode.plan == SplitPlanKind::fixed_keys) s += ".fixed" + std::to_string(decode.split_keys);
    if (decode.plan == SplitPlanKind::heuristic) s += ".split-ctas" + std::to_string(decode.target_ctas);
  }
  if (tiles.num_splits > 1 && !(numerics == KernelNumerics::flash_decoding && decode.plan != SplitPlanKind::count))
    s += ".split" + std::to_string(tiles.num_splits);
  if (tiles.order == KvBlockOrder::reverse) s += ".rev";
  if (tiles.order == KvBlockOrder::random) s += ".rand" + std::to_string(tiles.order_seed);
  if (p_cast == PCastMode::split_hi_lo) s += ".precise";
  if (rescale_threshold_log2 > 0) s += ".lazy" + std::to_string(static_cast<int>(rescale_threshold_log2));
  if (fp8.enabled())
    s += std::string(fp8.scaling == Fp8Scaling::per_tensor ? ".e4m3-tensor" : ".e4m3") + (fp8.rotate ? "-rot" : "") +
         (fp8.fma_exp_period > 0 ? "-fma" + std::to_string(fp8.fma_exp_period) : "");
  if (mutant != Mutant::none) s += std::string(".mutant-") + mutant_name(mutant);
  return s;
}

}  // namespace attn
