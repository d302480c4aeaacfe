// attnscope: the command line. Each subcommand is defined in its own file (cli/commands.h).
// This is the one place an error leaves the program: every exception, from argument parsing to
// the deepest kernel, ends here as `attnscope: error: <message>` and the documented exit status
// (core/errors.h: 0 ok, 1 the check failed, 2 usage or input error, 3 environment). Nothing
// aborts: a std::bad_alloc or a file-system failure is an environment error, not a crash.
#include <filesystem>
#include <iostream>
#include <new>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/sweep_commands.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "core/memory_budget.h"
#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)

#ifndef ATTNSCOPE_VERSION
#define ATTNSCOPE_VERSION "0.0.0"
#endif

namespace {
std::string g_command_line;

int fail(const std::string& message, attn::ExitCode code) {
  std::cerr << "attnscope: error: " << attn::printable_path(message) << "\n";
  return static_cast<int>(code);
}
}  // namespace

const std::string& attn::cli::invoked_command() { return g_command_line; }

int main(int argc, char** argv) {
  // The command line as provenance: valid UTF-8 (non-UTF-8 bytes of a path written as \xNN).
  for (int i = 0; i < argc; ++i) g_command_line += (i ? " " : "") + attn::printable_path(i ? argv[i] : "attnscope");
  CLI::App app{"attnscope: numerical accuracy of attention kernels"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--max-memory) are accepted after the subcommand too
  app.set_version_flag("--version", std::string("attnscope ") + ATTNSCOPE_VERSION + " (commit " + ATTNSCOPE_GIT_COMMIT + ")");
  std::string max_memory;
  app.add_option("--max-memory", max_memory,
                 "memory this process may plan to use, e.g. 64G (default: the machine's physical memory); larger "
                 "problems and sweeps are refused up front")
      ->each([](const std::string& text) { attn::set_memory_limit_bytes(attn::parse_byte_size(text)); });
  app.footer(
      "Exit status: 0 ok; 1 the check failed (run: FlashAttention rule FAIL, diagnose: a bug found, gate: "
      "failed); 2 usage or input error; 3 environment (no GPU, unwritable output, not enough memory).");
  attn::cli::add_run_command(app);
  attn::cli::add_list_command(app);
  attn::cli::add_attribute_command(app);
  attn::cli::add_diagnose_command(app);
  attn::cli::add_bench_command(app);
  attn::cli::add_incremental_command(app);
  attn::cli::add_fingerprint_commands(app);
  attn::cli::add_probe_command(app);
  attn::cli::add_make_inputs_command(app);
  attn::cli::add_check_command(app);
  attn::cli::add_sweep_commands(app);
  attn::cli::add_export_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    // Thrown by a subcommand to set its exit status after printing its verdict (e.g. a failed gate).
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // Every argument error exits 2, with CLI11's message naming the flag.
    app.exit(e);
    return static_cast<int>(attn::ExitCode::usage);
  } catch (const attn::Error& e) {
    return fail(e.what(), e.exit_code());
  } catch (const std::bad_alloc&) {
    return fail("out of memory (lower the problem size, or see --max-memory)", attn::ExitCode::environment);
  } catch (const std::filesystem::filesystem_error& e) {
    return fail(e.what(), attn::ExitCode::environment);
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("malformed JSON: ") + e.what(), attn::ExitCode::usage);
  } catch (const std::exception& e) {
    return fail(e.what(), attn::ExitCode::usage);  // e.g. a number out of range in an input
  } catch (...) {
    return fail("internal error: unknown exception", attn::ExitCode::environment);
  }
  return 0;
}
