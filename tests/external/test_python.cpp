// The Python package: importable from either interpreter (Debian's, and a python3 on PATH of the
// same CPython version even without NumPy); its API against independent numbers
// (test_python_api.py); the example a kernel team copies (examples/pytest/) passing for the
// correct kernel and failing, with the diagnosis in the message, for a planted bug.
#include <catch2/catch.hpp>

#include <unistd.h>

#include "tests/external/run_command.h"

// Built only where the package is (not under the sanitizer preset: an ASan-instrumented extension
// cannot be loaded into a plain python3).
#ifdef ATTNSCOPE_HAVE_PYTHON

namespace {

const std::string kSource = ATTNSCOPE_SOURCE_DIR;
const std::map<std::string, std::string> kEnv = {
    {"PYTHONPATH", ATTNSCOPE_PYTHON_DIR}, {"PYTHONDONTWRITEBYTECODE", "1"}, {"ATTNSCOPE_CLI", ATTNSCOPE_CLI}};

}  // namespace

TEST_CASE("import attnscope works from Debian's python3 and from python3 on PATH") {
  const auto debian = test_util::run_command({ATTNSCOPE_PYTHON, "-c", "import attnscope, attnscope._attnscope; print('ok')"}, kEnv);
  INFO(debian.output);
  CHECK(debian.status == 0);
  const auto on_path = test_util::run_command({"python3", "-c", "import attnscope; print(attnscope.__doc__.split()[0])"}, kEnv);
  INFO(on_path.output);
  CHECK(on_path.status == 0);
  CHECK_THAT(on_path.output, Catch::Contains("attnscope"));
}

TEST_CASE("the Python API against independent references") {
  const auto r = test_util::run_command({ATTNSCOPE_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                         kSource + "/tests/external/test_python_api.py"},
                                        kEnv);
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("6 passed"));
}

TEST_CASE("the pytest example passes for the correct kernel and fails for a planted bug") {
  const std::vector<std::string> pytest = {ATTNSCOPE_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                           kSource + "/examples/pytest/test_my_kernel.py"};
  const auto good = test_util::run_command(pytest, kEnv);
  INFO(good.output);
  CHECK(good.status == 0);
  CHECK_THAT(good.output, Catch::Contains("24 passed"));
  auto env = kEnv;
  env["MY_KERNEL_BUG"] = "top-left";
  const auto bad = test_util::run_command(pytest, env);
  INFO(bad.output);
  CHECK(bad.status == 1);
  // Square cases (no cache) cannot tell the corners apart and pass; every cached case fails, named.
  CHECK_THAT(bad.output, Catch::Contains("12 failed, 12 passed") && Catch::Contains("masking: top-left causal"));
}

#endif  // ATTNSCOPE_HAVE_PYTHON
