// sweep_report.h: the precision report of one sweep — Markdown and a self-contained HTML page
// with gnuplot plots (error vs S, block size, GQA ratio, cache depth; attribution bars; ULP
// histograms), written into one folder with the plots' data and scripts beside them.
// The first screen answers: which kernels pass the FlashAttention rule, how far above the
// rounding floor each one is, which mutants were caught, and where the error comes from.
#pragma once

#include <string>

#include "experiments/results_db.h"

namespace attn {

struct ReportOptions {
  std::string sweep;       ///< empty: the only sweep in the database (error if several)
  std::string out_dir;     ///< created if missing
  std::string command;     ///< the command that produced the results (provenance)
};

struct ReportFiles {
  std::string markdown;    ///< <out_dir>/report.md
  std::string html;        ///< <out_dir>/report.html
  int plots = 0;
  std::string plot_errors; ///< gnuplot problems (report still written, plots listed as missing)
};

ReportFiles write_sweep_report(const ResultsDb& db, const ReportOptions& options);

}  // namespace attn
