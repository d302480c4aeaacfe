// register_emulator_kernels.h: CPU emulator configurations (and emulator mutants) as kernels. The
// configurations are kernels/variants.toml's [emu] table (names emu.<dtype>.dany.<tile>[.variant]
// [.mutant-NAME]), generated into analysis/generated/emulator_variant_table.cpp.
#pragma once

#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "core/registry.h"

namespace attn {

/// One registered emulator configuration: every stage as the kernel does it.
struct EmulatorVariant {
  std::string name;
  DType dtype;
  AlgorithmConfig algorithm;
  bool is_default;  ///< the first tile of kernels/variants.toml's [emu] tiles
};

/// Every registered emulator configuration (generated from kernels/variants.toml).
const std::vector<EmulatorVariant>& emulator_variants();

void register_emulator_kernels(Registry& registry);

}  // namespace attn
