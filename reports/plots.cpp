#include "reports/plots.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace attn {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '_') out += "\\\\";  // gnuplot's enhanced text treats _ as subscript
    out += c;
  }
  return out + "\"";
}

std::string run_gnuplot(const std::string& dir, const std::string& name, std::string* error) {
  const std::string script = (std::filesystem::path(dir) / (name + ".gp")).string();
  const std::string command = "cd '" + dir + "' && gnuplot '" + name + ".gp' > '" + name + ".log' 2>&1";
  if (std::system(command.c_str()) != 0) {
    if (error) *error = "gnuplot failed on " + script + " (see " + name + ".log)";
    return "";
  }
  return name + ".svg";
}

const char* kHeader =
    "set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'\n"
    "set grid lc rgb '#dddddd'\nset key outside below\n";

}  // namespace

bool gnuplot_available() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

std::string draw(const LinePlot& plot, const std::string& dir, std::string* error) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream dat(std::filesystem::path(dir) / (plot.name + ".dat"));
    dat.precision(17);
    for (const Series& s : plot.series) {
      dat << "# " << s.title << "\n";
      std::vector<std::pair<double, double>> pts = s.points;
      std::sort(pts.begin(), pts.end());
      for (const auto& [x, y] : pts) dat << x << " " << y << "\n";
      dat << "\n\n";  // gnuplot data block separator (index)
    }
  }
  std::ofstream gp(std::filesystem::path(dir) / (plot.name + ".gp"));
  gp << kHeader << "set output '" << plot.name << ".svg'\n"
     << "set title " << quote(plot.title) << "\nset xlabel " << quote(plot.xlabel) << "\nset ylabel "
     << quote(plot.ylabel) << "\n";
  if (plot.logx) gp << "set logscale x 2\n";
  if (plot.logy) gp << "set logscale y\nset format y '10^{%L}'\n";
  gp << "plot ";
  for (size_t i = 0; i < plot.series.size(); ++i)
    gp << (i ? ", \\\n     " : "") << "'" << plot.name << ".dat' index " << i << " using 1:2 with linespoints title "
       << quote(plot.series[i].title);
  gp << "\n";
  gp.close();
  if (plot.series.empty()) {
    if (error) *error = "no data for plot " + plot.name;
    return "";
  }
  return run_gnuplot(dir, plot.name, error);
}

std::string draw(const BarPlot& plot, const std::string& dir, std::string* error) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream dat(std::filesystem::path(dir) / (plot.name + ".dat"));
    dat.precision(17);
    dat << "group";
    for (const std::string& b : plot.bars) dat << " " << quote(b);
    dat << "\n";
    for (size_t g = 0; g < plot.groups.size(); ++g) {
      dat << quote(plot.groups[g]);
      for (size_t b = 0; b < plot.bars.size(); ++b) dat << " " << plot.values[g][b];
      dat << "\n";
    }
  }
  std::ofstream gp(std::filesystem::path(dir) / (plot.name + ".gp"));
  gp << kHeader << "set output '" << plot.name << ".svg'\n"
     << "set title " << quote(plot.title) << "\nset ylabel " << quote(plot.ylabel) << "\n"
     << "set style data histograms\nset style histogram " << (plot.stacked ? "rowstacked" : "clustered gap 1")
     << "\nset style fill solid 0.85 border -1\nset xtics rotate by 90 right\nset bmargin 22\nset key autotitle columnhead outside right top\n"
     << "plot ";
  for (size_t b = 0; b < plot.bars.size(); ++b)
    gp << (b ? ", \\\n     " : "") << "'" << plot.name << ".dat' using " << (b + 2) << (b == 0 ? ":xtic(1)" : "");
  gp << "\n";
  gp.close();
  if (plot.groups.empty() || plot.bars.empty()) {
    if (error) *error = "no data for plot " + plot.name;
    return "";
  }
  return run_gnuplot(dir, plot.name, error);
}

}  // namespace attn
