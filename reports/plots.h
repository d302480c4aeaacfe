// plots.h: plots drawn by gnuplot. Each plot keeps its data (.dat) and script (.gp) beside the
// SVG it produced, so a reader can redraw or restyle it. Not a plotting library: line plots with
// log axes, grouped bars and histograms, which is what the reports need.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace attn {

struct Series {
  std::string title;
  std::vector<std::pair<double, double>> points;  ///< (x, y), drawn in x order
};

struct LinePlot {
  std::string name;     ///< file stem: <dir>/<name>.{dat,gp,svg}
  std::string title;
  std::string xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
};

struct BarPlot {
  std::string name;
  std::string title;
  std::string ylabel;
  std::vector<std::string> groups;  ///< x categories (e.g. kernels)
  std::vector<std::string> bars;    ///< bar titles within a group (e.g. attribution categories)
  std::vector<std::vector<double>> values;  ///< values[group][bar]
  bool stacked = false;
};

/// Writes data + script and runs gnuplot; returns the SVG path (relative to `dir`), or "" with
/// `error` set when gnuplot is missing or fails (the data and script are still written).
std::string draw(const LinePlot& plot, const std::string& dir, std::string* error);
std::string draw(const BarPlot& plot, const std::string& dir, std::string* error);

/// True when a gnuplot executable is on PATH.
bool gnuplot_available();

}  // namespace attn
