// probe_command.cpp: `attnscope probe --kernel NAME [--json]` — active probing of a registered
// kernel (analysis/probe.h): three crafted calls, then the recovered numerics as a card
// ("block_n 64, forward order, P fp16 before PV, FP32 accumulators, rescale every tile,
// bottom-right mask, contiguous GQA"), the calls it took, what each call decided, and, when the
// kernel's registered traits say what it does, whether the card matches them (exit 1 if not).
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "analysis/probe.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "experiments/register_all.h"

namespace attn::cli {

void add_probe_command(CLI::App& app) {
  struct Flags {
    std::string kernel;
    bool json = false;
    int threads = 0;
  };
  auto f = std::make_shared<Flags>();
  auto* sub = app.add_subcommand("probe", "Recover a kernel's numerics with crafted inputs (a card, in 3 calls)");
  sub->add_option("--kernel", f->kernel, "registered kernel (`attnscope list`)")->required();
  sub->add_flag("--json", f->json, "machine-readable output");
  sub->add_option("--threads", f->threads, "worker threads for the candidate models (0: all cores)")->capture_default_str();
  sub->callback([f] {
    const Kernel& kernel = all_kernels().get(f->kernel);
    ProbeOptions options;
    options.threads = f->threads;
    const ProbeResult r = probe_kernel(kernel, options);
    const std::optional<ProbeCard> expected = card_from_traits(kernel.info);
    const bool matches = expected && *expected == r.card;
    if (f->json) {
      std::cout << nlohmann::json{{"kernel", f->kernel},
                                  {"card", r.card.to_string()},
                                  {"calls", r.calls},
                                  {"dtype", dtype_name(r.dtype)},
                                  {"head_dim", r.head_dim},
                                  {"notes", r.notes},
                                  {"traits_card", expected ? nlohmann::json(expected->to_string()) : nlohmann::json()},
                                  {"matches_traits", expected ? nlohmann::json(matches) : nlohmann::json()}}
                       .dump(2)
                << "\n";
    } else {
      std::printf("%s: %s\n  %d calls (%s, D %lld)\n", f->kernel.c_str(), r.card.to_string().c_str(), r.calls,
                  std::string(dtype_name(r.dtype)).c_str(), static_cast<long long>(r.head_dim));
      for (const std::string& n : r.notes) std::printf("  %s\n", n.c_str());
      if (expected)
        std::printf("  registered traits: %s -> %s\n", expected->to_string().c_str(), matches ? "match" : "MISMATCH");
      else
        std::printf("  registered traits do not say what the card should be (no check)\n");
    }
    if (expected && !matches) throw CLI::RuntimeError(1);
  });
}

}  // namespace attn::cli
