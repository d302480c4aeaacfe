// commands.h: each `attnscope` subcommand lives in its own file and adds itself to the app.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace attn::cli {
/// The exact command line of this process (recorded in provenance).
const std::string& invoked_command();
void add_run_command(CLI::App& app);        // run.cpp: one configuration -> metrics table
void add_list_command(CLI::App& app);       // list.cpp: registered kernels and traits
void add_attribute_command(CLI::App& app);  // attribute_command.cpp: Shapley attribution
void add_diagnose_command(CLI::App& app);   // diagnose_command.cpp: semantic diagnosis of a dump
void add_bench_command(CLI::App& app);      // bench_command.cpp: GPU benchmark vs peers
void add_incremental_command(CLI::App& app);  // incremental_command.cpp: incremental vs full-sequence
void add_export_command(CLI::App& app);      // export_command.cpp: results as CSV / JSON (results_flat)
void add_fingerprint_commands(CLI::App& app); // fingerprint_command.cpp: fingerprint-grid, fingerprint-bench
void add_probe_command(CLI::App& app);        // probe_command.cpp: active probing of a kernel's numerics
void add_make_inputs_command(CLI::App& app);  // make_inputs_command.cpp: a case for an outside kernel
void add_check_command(CLI::App& app);        // check_command.cpp: judge an outside kernel's output
}  // namespace attn::cli
