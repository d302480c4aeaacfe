// attnscope: the command line. Each subcommand is defined in its own file (cli/commands.h).
#include <iostream>

#include "cli/commands.h"
#include "cli/sweep_commands.h"
#include "core/errors.h"

namespace {
std::string g_command_line;
}

const std::string& attn::cli::invoked_command() { return g_command_line; }

int main(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + std::string(i ? argv[i] : "attnscope");
  CLI::App app{"attnscope: numerical accuracy of attention kernels"};
  app.require_subcommand(1);
  attn::cli::add_run_command(app);
  attn::cli::add_list_command(app);
  attn::cli::add_attribute_command(app);
  attn::cli::add_diagnose_command(app);
  attn::cli::add_bench_command(app);
  attn::cli::add_incremental_command(app);
  attn::cli::add_make_inputs_command(app);
  attn::cli::add_check_command(app);
  attn::cli::add_sweep_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    // Thrown by a subcommand to set its exit status (e.g. a failed gate exits 1).
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // Every argument error exits 2, with CLI11's message naming the flag.
    app.exit(e);
    return 2;
  } catch (const attn::Error& e) {
    std::cerr << "attnscope: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
