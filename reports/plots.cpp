// plots.cpp: gnuplot data + scripts, drawn by spawning gnuplot with an argument vector
// (posix_spawn, never a shell). Every string that can come from a user or a database (titles,
// kernel names) enters the script only inside a single-quoted gnuplot string, where gnuplot
// performs no backquote (shell) substitution, no macro expansion and no escapes; quotes are
// doubled and control characters (a newline would end the command) replaced.
#include "reports/plots.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/io_files.h"

extern char** environ;

namespace attn {
namespace {

/// A gnuplot single-quoted string literal holding `s` verbatim (as far as gnuplot can show it).
std::string gnuplot_string(const std::string& s) {
  std::string out = "'";
  for (char c : printable_path(s)) {
    if (c == '\'') out += "''";  // the only escape inside single quotes
    else out += c;
  }
  return out + "'";
}

/// A column label of a data file: double-quoted, no quotes, backslashes or control characters.
std::string data_label(const std::string& s) {
  std::string out = "\"";
  for (char c : printable_path(s)) out += (c == '"' || c == '\\') ? '\'' : c;
  return out + "\"";
}

/// Runs `gnuplot <name>.gp` in `dir` (stdout and stderr to <name>.log); true on exit status 0.
bool spawn_gnuplot(const std::string& dir, const std::string& name, std::string* why) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  const std::string log = name + ".log", script = name + ".gp";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv{const_cast<char*>("gnuplot"), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *why = std::string("cannot run gnuplot: ") + std::strerror(rc);
    return false;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      *why = std::string("waiting for gnuplot failed: ") + std::strerror(errno);
      return false;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  *why = WIFEXITED(status) ? "gnuplot exited with status " + std::to_string(WEXITSTATUS(status))
                           : "gnuplot was killed by signal " + std::to_string(WTERMSIG(status));
  return false;
}

std::string run_gnuplot(const std::string& dir, const std::string& name, std::string* error) {
  std::string why;
  if (!spawn_gnuplot(dir, name, &why)) {
    if (error) *error = why + " on " + (std::filesystem::path(dir) / (name + ".gp")).string() + " (see " + name + ".log)";
    return "";
  }
  return name + ".svg";
}

// 8 colours a reader tells apart (Okabe-Ito, with black) and 8 point shapes; series i gets both.
const char* kHeader =
    "set terminal svg size 900,580 dynamic enhanced font 'DejaVu Sans,13' background rgb 'white'\n"
    "set grid lc rgb '#dddddd'\nset key outside below\n"
    "set linetype 1 lc rgb '#000000' pt 7 ps 0.9 lw 2\nset linetype 2 lc rgb '#E69F00' pt 5 ps 0.9 lw 2\n"
    "set linetype 3 lc rgb '#56B4E9' pt 9 ps 1.1 lw 2\nset linetype 4 lc rgb '#009E73' pt 11 ps 1.1 lw 2\n"
    "set linetype 5 lc rgb '#0072B2' pt 13 ps 1.0 lw 2\nset linetype 6 lc rgb '#D55E00' pt 4 ps 0.9 lw 2\n"
    "set linetype 7 lc rgb '#CC79A7' pt 6 ps 0.9 lw 2\nset linetype 8 lc rgb '#999933' pt 8 ps 1.0 lw 2\n"
    "set linetype cycle 8\n";

/// Ticks of a log y axis a reader can read off: 1-2-5 per decade (1, 1.5, 2, 3, 5, 7 within one
/// decade), labelled as plain numbers; gnuplot's own would show only the powers of ten. The range
/// includes `reference` (> 0), the line the reader compares with (excess 1, error / bound 1).
std::string log_ticks(const std::vector<Series>& series, double reference) {
  double lo = reference > 0 ? reference : INFINITY, hi = reference > 0 ? reference : -INFINITY;
  for (const Series& s : series)
    for (const auto& [x, y] : s.points)
      if (y > 0 && std::isfinite(y)) {
        lo = std::min(lo, y);
        hi = std::max(hi, y);
      }
  if (!(lo <= hi)) return "set format y '%g'\n";
  const double decades = std::log10(hi / lo);
  if (decades < 0.5) {  // a narrow range: evenly spaced ticks of a 1-2-5 step
    const double y0 = lo / 1.25, y1 = hi * 1.25, raw = (y1 - y0) / 5;
    const double p10 = std::pow(10.0, std::floor(std::log10(raw)));
    const double step = raw / p10 < 2 ? 2 * p10 : raw / p10 < 5 ? 5 * p10 : 10 * p10;
    std::ostringstream t;
    t.precision(6);
    t << "set format y '%g'\nset ytics (";
    bool any = false;
    for (double v = std::ceil(y0 / step) * step; v <= y1; v += step) {
      t << (any ? ", " : "") << v;
      any = true;
    }
    t << ")\nset yrange [" << y0 << ":" << y1 << "]\n";
    return t.str();
  }
  const std::vector<double> mantissas = decades <= 1.2   ? std::vector<double>{1, 1.5, 2, 3, 5, 7}
                                        : decades <= 4.0 ? std::vector<double>{1, 2, 5}
                                                         : std::vector<double>{1};
  const int first = static_cast<int>(std::floor(std::log10(lo))), last = static_cast<int>(std::ceil(std::log10(hi)));
  const int step = decades > 12 ? 3 : 1;
  std::ostringstream t;
  t.precision(6);
  t << "set format y '%g'\nset ytics (";
  bool any = false;
  for (int e = first; e <= last; e += step)
    for (double m : mantissas) {
      const double v = m * std::pow(10.0, e);
      if (v < lo / 1.6 || v > hi * 1.6) continue;
      t << (any ? ", " : "") << v;
      any = true;
    }
  t << ")\nset yrange [" << lo / 1.25 << ":" << hi * 1.25 << "]\n";  // not gnuplot's whole decades
  return any ? t.str() : "set format y '%g'\n";
}

/// A title as gnuplot lines of at most `width` characters, broken at spaces: single-quoted
/// pieces joined by a double-quoted newline (`'a' . "\n" . 'b'`), each piece safe as above.
std::string gnuplot_title(const std::string& title, size_t width = 88) {
  std::vector<std::string> lines{""};
  std::istringstream words(title);
  for (std::string word; words >> word;) {
    if (!lines.back().empty() && lines.back().size() + 1 + word.size() > width) lines.emplace_back();
    lines.back() += (lines.back().empty() ? "" : " ") + word;
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? " . \"\\n\" . " : "") + gnuplot_string(lines[i]);
  return out;
}

void require_series_count(size_t n, const std::string& name) {
  if (n > static_cast<size_t>(kMaxSeriesPerPlot))
    throw std::invalid_argument("plot '" + name + "' has " + std::to_string(n) + " series; at most " +
                                std::to_string(kMaxSeriesPerPlot) + " are readable in one plot");
}

void write_in(const std::string& dir, const std::string& file, const std::string& text) {
  write_file_atomic((std::filesystem::path(dir) / file).string(), text);
}

/// Plot file stems are code identifiers; refuse anything else rather than build a path from it.
void require_plain_name(const std::string& name) {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  if (!plain) throw std::invalid_argument("plot name '" + printable_path(name) + "' is not a plain file stem");
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/gnuplot";
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string draw(const LinePlot& plot, const std::string& dir, std::string* error) {
  require_plain_name(plot.name);
  require_series_count(plot.series.size(), plot.name);
  std::filesystem::create_directories(dir);
  std::ostringstream dat;
  dat.precision(17);
  for (const Series& s : plot.series) {
    dat << "# " << printable_path(s.title) << "\n";
    std::vector<std::pair<double, double>> pts = s.points;
    std::sort(pts.begin(), pts.end());
    for (const auto& [x, y] : pts) dat << x << " " << y << "\n";
    dat << "\n\n";  // gnuplot data block separator (index)
  }
  write_in(dir, plot.name + ".dat", dat.str());
  std::ostringstream gp;
  gp.precision(17);
  gp << kHeader << "set output '" << plot.name << ".svg'\n"
     << "set title " << gnuplot_title(plot.title) << " noenhanced\nset xlabel " << gnuplot_string(plot.xlabel)
     << " noenhanced\nset ylabel " << gnuplot_string(plot.ylabel) << " noenhanced\n";
  if (plot.logx) gp << "set logscale x 2\n";
  if (plot.logy) gp << "set logscale y\n" << log_ticks(plot.series, plot.y_reference);
  if (!plot.xtics.empty()) {
    gp << "set xtics (";
    for (size_t i = 0; i < plot.xtics.size(); ++i)
      gp << (i ? ", " : "") << gnuplot_string(plot.xtics[i].label) << " " << plot.xtics[i].at;
    gp << ") noenhanced" << (plot.xtics.size() > 10 ? " rotate by 45 right" : "") << "\n";
    if (!plot.logx) {  // categorical: half a category of room on each side
      double lo = plot.xtics.front().at, hi = lo;
      for (const AxisTick& t : plot.xtics) {
        lo = std::min(lo, t.at);
        hi = std::max(hi, t.at);
      }
      gp << "set xrange [" << lo - 0.5 << ":" << hi + 0.5 << "]\n";
    } else {
      double lo = plot.xtics.front().at, hi = lo;
      for (const AxisTick& t : plot.xtics) {
        lo = std::min(lo, t.at);
        hi = std::max(hi, t.at);
      }
      gp << "set xrange [" << lo / 1.5 << ":" << hi * 1.5 << "]\n";
    }
  }
  for (double x : plot.x_marks)
    gp << "set arrow from " << x << ", graph 0 to " << x << ", graph 1 nohead dt 2 lw 1 lc rgb '#888888'\n";
  if (plot.y_reference > 0)
    gp << "set arrow from graph 0, first " << plot.y_reference << " to graph 1, first " << plot.y_reference
       << " nohead lw 1.5 lc rgb '#bbbbbb'\n";
  gp << "plot ";
  if (plot.stacked) {  // top band first, each filled down to the axis, so the lower bands stay visible
    gp << "[] [0:*] ";
    for (size_t j = 0; j < plot.series.size(); ++j) {
      const size_t i = plot.series.size() - 1 - j;
      gp << (j ? ", \\\n     " : "") << "'" << plot.name << ".dat' index " << i
         << " using 1:2 with filledcurves x1 fs solid 0.85 lt " << (i + 1) << " title "
         << gnuplot_string(plot.series[i].title) << " noenhanced";
    }
  }
  for (size_t i = 0; i < plot.series.size() && !plot.stacked; ++i)
    gp << (i ? ", \\\n     " : "") << "'" << plot.name << ".dat' index " << i << " using 1:2 with linespoints lt "
       << (i + 1) << " title " << gnuplot_string(plot.series[i].title) << " noenhanced";
  if (!plot.x_marks.empty() && !plot.x_marks_label.empty())
    gp << ", \\\n     NaN with lines dt 2 lw 1 lc rgb '#888888' title " << gnuplot_string(plot.x_marks_label)
       << " noenhanced";
  gp << "\n";
  write_in(dir, plot.name + ".gp", gp.str());
  if (plot.series.empty()) {
    if (error) *error = "no data for plot " + plot.name;
    return "";
  }
  return run_gnuplot(dir, plot.name, error);
}

std::string draw(const BarPlot& plot, const std::string& dir, std::string* error) {
  require_plain_name(plot.name);
  require_series_count(plot.bars.size(), plot.name);
  std::filesystem::create_directories(dir);
  std::ostringstream dat;
  dat.precision(17);
  dat << "group";
  for (const std::string& b : plot.bars) dat << " " << data_label(b);
  dat << "\n";
  for (size_t g = 0; g < plot.groups.size(); ++g) {
    dat << data_label(plot.groups[g]);
    for (size_t b = 0; b < plot.bars.size(); ++b) dat << " " << plot.values[g][b];
    dat << "\n";
  }
  write_in(dir, plot.name + ".dat", dat.str());
  std::ostringstream gp;
  gp << kHeader << "set output '" << plot.name << ".svg'\n"
     << "set title " << gnuplot_title(plot.title) << " noenhanced\nset ylabel " << gnuplot_string(plot.ylabel)
     << " noenhanced\n"
     << "set style data histograms\nset style histogram " << (plot.stacked ? "rowstacked" : "clustered gap 1")
     << "\nset style fill solid 0.85 border -1\nset boxwidth 0.75\n";
  size_t longest_group = 0;
  for (const std::string& g : plot.groups) longest_group = std::max(longest_group, printable_path(g).size());
  if (longest_group > 8)  // long labels (kernel names): vertical, the key on the right
    gp << "set xtics rotate by 30 right noenhanced\nset bmargin " << std::min<size_t>(30, longest_group * 3 / 10 + 3)
       << "\nset key autotitle columnhead outside right top vertical noenhanced\n";
  else
    gp << "set xtics noenhanced\nset key autotitle columnhead outside below noenhanced\n";
  gp << (plot.percent ? "set yrange [0:100]\nset ytics 0,20,100\n" : "set yrange [0:*]\n") << "plot ";
  for (size_t b = 0; b < plot.bars.size(); ++b)
    gp << (b ? ", \\\n     " : "") << "'" << plot.name << ".dat' using " << (b + 2) << (b == 0 ? ":xtic(1)" : "")
       << " lt " << (b + 1);
  gp << "\n";
  write_in(dir, plot.name + ".gp", gp.str());
  if (plot.groups.empty() || plot.bars.empty()) {
    if (error) *error = "no data for plot " + plot.name;
    return "";
  }
  return run_gnuplot(dir, plot.name, error);
}

}  // namespace attn
