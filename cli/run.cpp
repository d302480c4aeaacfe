#include "cli/commands.h"

namespace attn::cli {
// Placeholder until the CLI work lands.
void add_run_command(CLI::App& app) { app.add_subcommand("run", "(not built yet)"); }
}  // namespace attn::cli
