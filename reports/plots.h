// plots.h: plots drawn by gnuplot. Each plot keeps its data (.dat) and script (.gp) beside the
// SVG it produced, so a reader can redraw or restyle it. Not a plotting library: line plots with
// log or categorical axes, grouped or stacked bars, which is what the reports need. A plot holds
// at most kMaxSeriesPerPlot series, each with its own colour and point shape (a reader tells
// them apart at a glance); draw() refuses more.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace attn {

struct Series {
  std::string title;
  std::vector<std::pair<double, double>> points;  ///< (x, y), drawn in x order
};

/// At most this many series share a plot: 8 colours and shapes a reader tells apart.
inline constexpr int kMaxSeriesPerPlot = 8;

/// A labelled tick on the x axis.
struct AxisTick {
  double at = 0;
  std::string label;
};

struct LinePlot {
  std::string name;     ///< file stem: <dir>/<name>.{dat,gp,svg}
  std::string title;
  std::string xlabel, ylabel;
  bool logx = false, logy = false;
  std::vector<Series> series;
  /// Non-empty: exactly these x ticks (a categorical axis puts value i at x = i with its label;
  /// a log axis of depth + 1 labels x = 1 as "0").
  std::vector<AxisTick> xtics;
  std::vector<double> x_marks;  ///< dashed vertical lines at these x (e.g. tile multiples)
  std::string x_marks_label;    ///< what the dashed lines mean (in the key)
  double y_reference = 0;       ///< > 0: a grey horizontal line at this y (e.g. excess 1, the floor)
  /// Stacked lines: series i holds the cumulative sum of the first i + 1 quantities; each band
  /// between consecutive series is filled in that series' colour (the first at the bottom).
  bool stacked = false;
};

struct BarPlot {
  std::string name;
  std::string title;
  std::string ylabel;
  std::vector<std::string> groups;  ///< x categories (e.g. kernels)
  std::vector<std::string> bars;    ///< bar titles within a group (e.g. attribution categories)
  std::vector<std::vector<double>> values;  ///< values[group][bar]
  bool stacked = false;
  bool percent = false;             ///< y axis 0..100
};

/// Writes data + script and runs gnuplot; returns the SVG path (relative to `dir`), or "" with
/// `error` set when gnuplot is missing or fails (the data and script are still written).
std::string draw(const LinePlot& plot, const std::string& dir, std::string* error);
std::string draw(const BarPlot& plot, const std::string& dir, std::string* error);

/// True when a gnuplot executable is on PATH.
bool gnuplot_available();

}  // namespace attn
