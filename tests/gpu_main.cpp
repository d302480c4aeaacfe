// Catch2 main for tests/gpu/: with no usable GPU it runs nothing and exits 77, which ctest
// reports as SKIPPED (SKIP_RETURN_CODE) — never as a pass.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <iostream>
#include <string>

#include "kernels/register_gpu_kernels.h"

int main(int argc, char** argv) {
  std::string why;
  if (!attn::gpu_available(&why)) {
    std::cout << "SKIPPED: GPU tests not run: " << why << "\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
