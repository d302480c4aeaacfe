#include "cli/commands.h"

namespace attn::cli {
// Placeholder until the CLI work lands.
void add_list_command(CLI::App& app) { app.add_subcommand("list", "(not built yet)"); }
}  // namespace attn::cli
