// results_flat.h: the results database as one flat table. The `results` table keeps each row's
// configuration, metrics, attribution and provenance as JSON (results_db.h); `results_flat` is an
// SQL view over it with one column per configuration field and per metric, so that
// `pandas.read_sql("SELECT * FROM results_flat", con)` or any SQL client reads it directly, and
// `attnscope export --csv/--json` writes the same columns to a file. The column list below is the
// one definition: the view, the export and the README's schema table come from it.
// What it is not: a second store (the view holds no data) or a report.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace attn {

class ResultsDb;

/// One column of results_flat.
struct FlatColumn {
  std::string name;     ///< column name (lower case, [a-z0-9_])
  std::string sql;      ///< its SQL expression over the `results` table
  std::string type;     ///< "integer" | "real" | "text" | "boolean" (0/1)
  std::string meaning;  ///< one line for the README's schema table
};

/// Every column of results_flat, in order.
const std::vector<FlatColumn>& results_flat_columns();

/// `SELECT <every column> FROM results` (the view's body).
std::string results_flat_select();

/// The statements that (re)create the view: `DROP VIEW IF EXISTS results_flat; CREATE VIEW ...`.
std::string results_flat_view_sql();

/// The schema as a Markdown table (name, type, meaning), for the README.
std::string results_flat_markdown();

enum class ExportFormat { csv, json };

/// The flat rows of `db` (optionally of one sweep) as CSV (RFC 4180: a header line, fields with
/// a comma, quote or line break quoted, NULL as an empty field) or JSON (an array of objects, one
/// per row, NULL as null). Reads only; `db` may be open read-only.
std::string export_results(const ResultsDb& db, ExportFormat format, const std::optional<std::string>& sweep);

}  // namespace attn
