// `attnscope export --db DB --csv FILE | --json FILE [--sweep NAME]`: the results database as one
// flat table (experiments/results_flat.h: the columns of the `results_flat` view) in CSV or JSON.
// The database is opened read-only and never written; an output that is the database (or one of
// its side files) is refused before anything is read; outputs are written atomically.
#include "cli/commands.h"

#include <algorithm>
#include <iostream>
#include <optional>

#include "core/errors.h"
#include "core/io_files.h"
#include "experiments/results_db.h"
#include "experiments/results_flat.h"

namespace attn::cli {
namespace {

struct ExportFlags {
  std::string db, csv, json, sweep;
  bool schema = false;
};

void run_export_command(const ExportFlags& f) {
  if (f.schema) {  // the column list, as the README documents it
    std::cout << results_flat_markdown();
    return;
  }
  if (f.db.empty()) throw CLI::ValidationError("--db", "the results database is required");
  if (f.csv.empty() && f.json.empty()) throw CLI::ValidationError("--csv", "give --csv FILE, --json FILE or both");
  const std::vector<std::string> inputs = {f.db, f.db + "-wal", f.db + "-shm", f.db + "-journal"};
  if (!f.csv.empty()) check_output_path(f.csv, OutputKind::file, inputs, "--csv");
  if (!f.json.empty()) check_output_path(f.json, OutputKind::file, inputs, "--json");
  if (!f.csv.empty() && !f.json.empty() && same_file(f.csv, f.json))
    throw CLI::ValidationError("--json", "--csv and --json name the same file");
  const ResultsDb db(f.db, DbMode::read_only);
  std::optional<std::string> sweep;
  if (!f.sweep.empty()) {
    const std::vector<std::string> names = db.sweeps();
    if (std::find(names.begin(), names.end(), f.sweep) == names.end()) {
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      throw Error("--sweep '" + f.sweep + "': no such sweep in '" + printable_path(f.db) + "' (it holds: " +
                       (known.empty() ? "none" : known) + ")");
    }
    sweep = f.sweep;
  }
  for (const auto& [path, format] : {std::pair{f.csv, ExportFormat::csv}, std::pair{f.json, ExportFormat::json}}) {
    if (path.empty()) continue;
    write_file_atomic(path, export_results(db, format, sweep));
    std::cout << "export: " << printable_path(path) << " (" << results_flat_columns().size() << " columns)\n";
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  auto* cmd = app.add_subcommand(
      "export", "Write the results database as one flat table (the results_flat view) to CSV and/or JSON");
  cmd->add_option("--db", f->db, "Results database (opened read-only)");
  cmd->add_option("--csv", f->csv, "Write CSV here (RFC 4180, header line; never the database)");
  cmd->add_option("--json", f->json, "Write JSON here (an array of objects, one per row; never the database)");
  cmd->add_option("--sweep", f->sweep, "Only this sweep (it must exist)");
  cmd->add_flag("--schema", f->schema, "Print the columns (name, type, meaning) as a Markdown table and exit");
  cmd->callback([f] { run_export_command(*f); });
}

}  // namespace attn::cli
