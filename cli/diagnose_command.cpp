#include "cli/commands.h"

namespace attn::cli {
// Placeholder until the diagnose work lands: the subcommand exists and says it is not built yet.
void add_diagnose_command(CLI::App& app) {
  auto* sub = app.add_subcommand("diagnose", "(not built yet)");
  sub->callback([] { throw CLI::RuntimeError("attnscope diagnose: not implemented in this build", 2); });
}
}  // namespace attn::cli
