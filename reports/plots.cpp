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

const char* kHeader =
    "set terminal svg size 860,560 dynamic enhanced font 'Helvetica,11' background rgb 'white'\n"
    "set grid lc rgb '#dddddd'\nset key outside below\n";

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
  gp << kHeader << "set output '" << plot.name << ".svg'\n"
     << "set title " << gnuplot_string(plot.title) << " noenhanced\nset xlabel " << gnuplot_string(plot.xlabel)
     << " noenhanced\nset ylabel " << gnuplot_string(plot.ylabel) << " noenhanced\n";
  if (plot.logx) gp << "set logscale x 2\n";
  if (plot.logy) gp << "set logscale y\nset format y '10^{%L}'\n";
  gp << "plot ";
  for (size_t i = 0; i < plot.series.size(); ++i)
    gp << (i ? ", \\\n     " : "") << "'" << plot.name << ".dat' index " << i << " using 1:2 with linespoints title "
       << gnuplot_string(plot.series[i].title) << " noenhanced";
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
     << "set title " << gnuplot_string(plot.title) << " noenhanced\nset ylabel " << gnuplot_string(plot.ylabel)
     << " noenhanced\n"
     << "set style data histograms\nset style histogram " << (plot.stacked ? "rowstacked" : "clustered gap 1")
     << "\nset style fill solid 0.85 border -1\nset xtics rotate by 90 right noenhanced\nset bmargin 22\n"
        "set key autotitle columnhead outside right top noenhanced\n"
     << "plot ";
  for (size_t b = 0; b < plot.bars.size(); ++b)
    gp << (b ? ", \\\n     " : "") << "'" << plot.name << ".dat' using " << (b + 2) << (b == 0 ? ":xtic(1)" : "");
  gp << "\n";
  write_in(dir, plot.name + ".gp", gp.str());
  if (plot.groups.empty() || plot.bars.empty()) {
    if (error) *error = "no data for plot " + plot.name;
    return "";
  }
  return run_gnuplot(dir, plot.name, error);
}

}  // namespace attn
