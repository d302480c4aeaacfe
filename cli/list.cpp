// `attnscope list [GLOB] [--json]`: every registered implementation with family, traits and,
// for mutants, the planted bug's category.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "experiments/register_all.h"
#include "kernels/register_gpu_kernels.h"

namespace attn::cli {

void add_list_command(CLI::App& app) {
  auto pattern = std::make_shared<std::string>("*");
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("list", "List registered kernels (references, emulator, CUDA, mutants)");
  sub->add_option("glob", *pattern, "name filter, e.g. 'fa2.bf16.*'")->capture_default_str();
  sub->add_flag("--json", *json, "machine-readable output");
  sub->callback([pattern, json] {
    const auto kernels = all_kernels().matching(*pattern);
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const Kernel* k : kernels)
        out.push_back({{"name", k->info.name}, {"family", k->info.family}, {"description", k->info.description},
                       {"traits", k->info.traits}, {"needs_gpu", k->info.needs_gpu},
                       {"planted_bug", k->info.planted_bug}, {"design", k->info.design},
                       {"path", kernel_path_name(k->info.path)}, {"mutant", mutant_name(k->info.mutant)},
                       {"default", k->info.is_default}});
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::string why;
    const bool gpu = gpu_available(&why);
    std::cout << kernels.size() << " kernels" << (gpu ? "" : " (GPU kernels need a GPU: " + why + ")") << "\n";
    for (const Kernel* k : kernels) {
      std::cout << "  " << k->info.name << "  [" << k->info.family << (k->info.needs_gpu ? ", gpu" : "")
                << (k->info.planted_bug.empty() ? "" : ", plants: " + k->info.planted_bug) << "]\n      "
                << k->info.description << "\n";
    }
  });
}

}  // namespace attn::cli
