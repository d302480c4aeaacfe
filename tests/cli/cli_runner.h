// cli_runner.h: runs the built `attnscope` (ATTNSCOPE_CLI) with a test's fixed argument string and
// returns its exit status and output (stdout + stderr), for the tests in tests/cli/. The strings
// are the tests' own literals (quoted as a shell would read them), never user input.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace test_cli {

struct CliResult {
  int status;          ///< exit status, -1 when killed by a signal
  std::string output;  ///< stdout + stderr
};

inline CliResult run_attnscope(const std::string& args) {
  const std::string command = std::string(ATTNSCOPE_CLI) + " " + args + " 2>&1";
  CliResult result{-1, ""};
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) result.output.append(buf.data(), n);
  const int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

}  // namespace test_cli
