// sweep_commands.h: `attnscope sweep`, `report`, `gate`, `merge` — the results-database workflow.
#pragma once

#include <CLI/CLI.hpp>

namespace attn::cli {
void add_sweep_commands(CLI::App& app);
}
