#include "experiments/provenance.h"

#include <unistd.h>

#include <ctime>

#include "kernels/register_gpu_kernels.h"
#if defined(ATTNSCOPE_HAVE_CUDA)
#include "kernels/prefill_bench.h"
#endif

#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)
#ifndef ATTNSCOPE_GIT_COMMIT
#define ATTNSCOPE_GIT_COMMIT "unknown"
#endif

namespace attn {

nlohmann::json collect_provenance(const std::string& command) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::string gpu = "none";
  std::string why;
  if (gpu_available(&why)) {
#if defined(ATTNSCOPE_HAVE_CUDA)
    gpu = gpu_description();
#endif
  } else {
    gpu += " (" + why + ")";
  }
  return {{"commit", ATTNSCOPE_GIT_COMMIT},
          {"host", host},
          {"time_utc", when},
          {"gpu", gpu},
          {"compiler", __VERSION__},
          {"numerics_flags", "host: -ffp-contract=off -fno-fast-math; device: no fast-math"},
          {"command", command}};
}

}  // namespace attn
