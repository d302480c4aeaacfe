// worker_process.h: a child process attnscope talks to in lines of text over its stdin/stdout
// (the external-kernel worker). Started with posix_spawnp from an argument vector — never a
// shell — in its own process group, with its stderr captured (the last few KiB are kept for
// error messages). Every read and write has a deadline (poll); a worker that hangs, dies, closes
// its output or writes a line longer than the limit raises WorkerFailure saying which, and the
// caller decides whether to restart it. The destructor stops the worker (EOF on stdin, a short
// grace period, then SIGKILL to its process group) and reaps it: no zombie, no orphan left behind.
// What it is not: a general subprocess library (no shell, no pseudo-terminal, no stdin streaming).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "core/errors.h"

namespace attn {

/// A worker that did not answer as the protocol requires.
struct WorkerFailure : Error {
  enum class Kind { cannot_start, timeout, exited, protocol };
  WorkerFailure(Kind kind, const std::string& what) : Error(what), kind(kind) {}
  Kind kind;
};

class WorkerProcess {
 public:
  /// `argv[0]` is looked up in PATH; `env` entries are added to (or replace) the inherited ones.
  WorkerProcess(std::vector<std::string> argv, std::map<std::string, std::string> env);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  /// Starts the process; throws WorkerFailure(cannot_start) naming the command and errno.
  void start();
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  /// Writes `line` and a newline within `timeout_s`; throws WorkerFailure (exited / timeout).
  void send_line(const std::string& line, double timeout_s);
  /// The next line of the worker's stdout (without the newline) within `timeout_s`; stderr is
  /// drained meanwhile. Throws WorkerFailure: timeout, exited (EOF on stdout), protocol (a line
  /// longer than kMaxLineBytes).
  std::string read_line(double timeout_s);

  /// The last lines the worker wrote to stderr (at most kStderrTailBytes), for error messages.
  std::string stderr_tail() const;
  /// "exited with status 3", "killed by signal 9 (Killed)", or "running".
  std::string exit_description();

  /// Closes stdin, waits up to `grace_s` for the worker to exit, then kills its process group.
  void stop(double grace_s = 2.0);

  static constexpr size_t kMaxLineBytes = 1 << 20;
  static constexpr size_t kStderrTailBytes = 4096;

 private:
  void drain_stderr();
  bool reap(bool block);
  void close_fds();

  std::vector<std::string> argv_;
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::string stdout_buffer_, stderr_tail_;
};

}  // namespace attn
