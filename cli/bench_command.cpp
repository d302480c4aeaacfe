#include "cli/commands.h"

namespace attn::cli {
// Placeholder until the bench work lands: the subcommand exists and says it is not built yet.
void add_bench_command(CLI::App& app) {
  auto* sub = app.add_subcommand("bench", "(not built yet)");
  sub->callback([] { throw CLI::RuntimeError("attnscope bench: not implemented in this build", 2); });
}
}  // namespace attn::cli
