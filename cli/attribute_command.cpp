#include "cli/commands.h"

namespace attn::cli {
// Placeholder until the attribute work lands: the subcommand exists and says it is not built yet.
void add_attribute_command(CLI::App& app) {
  auto* sub = app.add_subcommand("attribute", "(not built yet)");
  sub->callback([] { throw CLI::RuntimeError("attnscope attribute: not implemented in this build", 2); });
}
}  // namespace attn::cli
