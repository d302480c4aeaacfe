// `cmake --install` + find_package(attnscope): a tiny consumer project (examples/cmake_consumer/)
// configures, builds and runs against the installed headers and libraries (core/half.h included),
// and the Python package lands beside them.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "tests/external/run_command.h"

TEST_CASE("an installed attnscope is usable from another CMake project") {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_consumer_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const std::string prefix = (dir / "prefix").string(), build = (dir / "build").string();
  const auto install = test_util::run_command({ATTNSCOPE_CMAKE, "--install", ATTNSCOPE_BINARY_DIR, "--prefix", prefix});
  INFO(install.output);
  REQUIRE(install.status == 0);
  CHECK(std::filesystem::exists(prefix + "/include/attnscope/core/half.h"));
  CHECK(std::filesystem::exists(prefix + "/lib/cmake/attnscope/attnscopeConfig.cmake"));
  CHECK(std::filesystem::exists(prefix + "/bin/attnscope"));
#ifdef ATTNSCOPE_HAVE_PYTHON
  CHECK(std::filesystem::exists(prefix + "/lib/python3/dist-packages/attnscope/__init__.py"));
#endif

  const auto configure = test_util::run_command({ATTNSCOPE_CMAKE, "-S", std::string(ATTNSCOPE_SOURCE_DIR) + "/examples/cmake_consumer",
                                                 "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release",
                                                 std::string("-DCMAKE_CXX_FLAGS=") + ATTNSCOPE_CXX_FLAGS,
                                                 std::string("-DCMAKE_EXE_LINKER_FLAGS=") + ATTNSCOPE_LINKER_FLAGS});
  INFO(configure.output);
  REQUIRE(configure.status == 0);
  const auto compile = test_util::run_command({ATTNSCOPE_CMAKE, "--build", build, "-j2"});
  INFO(compile.output);
  REQUIRE(compile.status == 0);
  const auto run = test_util::run_command({build + "/judge_my_kernel"});
  INFO(run.output);
  CHECK(run.status == 0);
  CHECK_THAT(run.output, Catch::Contains("FA rule PASS") && Catch::Contains("verdict: no semantic bug"));
  std::filesystem::remove_all(dir);
}
