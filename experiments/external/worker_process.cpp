#include "experiments/external/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace attn {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

Clock::time_point deadline_after(double seconds) {
  return Clock::now() + std::chrono::microseconds(static_cast<long long>(seconds * 1e6));
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string command_text(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

/// Exit status text of a wait status.
std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

}  // namespace

WorkerProcess::WorkerProcess(std::vector<std::string> argv, std::map<std::string, std::string> env)
    : argv_(std::move(argv)), env_(std::move(env)) {}

WorkerProcess::~WorkerProcess() { stop(); }

void WorkerProcess::start() {
  if (argv_.empty()) throw WorkerFailure(WorkerFailure::Kind::cannot_start, "worker command is empty");
  // stdin is a socket so that writing to a dead worker is EPIPE (MSG_NOSIGNAL), never SIGPIPE.
  int in_pair[2], out_pipe[2], err_pipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0)
    throw WorkerFailure(WorkerFailure::Kind::cannot_start, std::string("socketpair: ") + std::strerror(errno));
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw WorkerFailure(WorkerFailure::Kind::cannot_start, std::string("pipe: ") + std::strerror(errno));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pair[1], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // no other descriptor of ours leaks in
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigemptyset(&default_signals);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&default_signals, s);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  posix_spawnattr_setpgroup(&attr, 0);  // its own process group: a stop reaches its children too
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (!env_.count(name)) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env_) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp, argv;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (std::string& s : argv_) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(in_pair[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(in_pair[0]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw WorkerFailure(WorkerFailure::Kind::cannot_start,
                        "cannot start worker '" + command_text(argv_) + "': " + std::strerror(rc));
  }
  pid_ = pid;
  reaped_ = false;
  stdin_fd_ = in_pair[0];
  stdout_fd_ = out_pipe[0];
  stderr_fd_ = err_pipe[0];
  set_nonblocking(stdin_fd_);
  set_nonblocking(stdout_fd_);
  set_nonblocking(stderr_fd_);
  stdout_buffer_.clear();
  stderr_tail_.clear();
}

void WorkerProcess::drain_stderr() {
  if (stderr_fd_ < 0) return;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
    if (n > 0) {
      stderr_tail_.append(buf, static_cast<size_t>(n));
      if (stderr_tail_.size() > 2 * kStderrTailBytes) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // the worker closed stderr (it exited)
      ::close(stderr_fd_);
      stderr_fd_ = -1;
    }
    return;
  }
}

std::string WorkerProcess::stderr_tail() const {
  std::string tail = stderr_tail_.size() > kStderrTailBytes ? stderr_tail_.substr(stderr_tail_.size() - kStderrTailBytes)
                                                            : stderr_tail_;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return tail;
}

void WorkerProcess::send_line(const std::string& line, double timeout_s) {
  if (stdin_fd_ < 0) throw WorkerFailure(WorkerFailure::Kind::exited, "worker is not running");
  const std::string data = line + "\n";
  const auto deadline = deadline_after(timeout_s);
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(stdin_fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{stdin_fd_, POLLOUT, 0};
      if (::poll(&p, 1, remaining_ms(deadline)) == 0)
        throw WorkerFailure(WorkerFailure::Kind::timeout, "worker did not read its input within " +
                                                               std::to_string(timeout_s) + " s");
      continue;
    }
    drain_stderr();
    throw WorkerFailure(WorkerFailure::Kind::exited, "worker closed its input (" + exit_description() + ")");
  }
}

std::string WorkerProcess::read_line(double timeout_s) {
  const auto deadline = deadline_after(timeout_s);
  for (;;) {
    const size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    if (stdout_buffer_.size() > kMaxLineBytes)
      throw WorkerFailure(WorkerFailure::Kind::protocol,
                          "worker wrote more than " + std::to_string(kMaxLineBytes) + " bytes without a newline");
    if (stdout_fd_ < 0) throw WorkerFailure(WorkerFailure::Kind::exited, "worker is not running");
    pollfd fds[2] = {{stdout_fd_, POLLIN, 0}, {stderr_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, stderr_fd_ >= 0 ? 2 : 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      drain_stderr();
      throw WorkerFailure(WorkerFailure::Kind::timeout,
                          "no answer within " + std::to_string(static_cast<int>(timeout_s)) + " s (worker hung)");
    }
    if (stderr_fd_ >= 0 && fds[1].revents) drain_stderr();
    if (fds[0].revents) {
      char buf[65536];
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n > 0) {
        stdout_buffer_.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        // EOF: the worker exited or closed stdout. Give it a moment to exit so the status is known.
        for (int i = 0; i < 100 && !reap(false); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        drain_stderr();
        throw WorkerFailure(WorkerFailure::Kind::exited, "worker closed its output (" + exit_description() + ")");
      } else if (errno != EAGAIN && errno != EINTR) {
        throw WorkerFailure(WorkerFailure::Kind::exited, std::string("reading the worker's output: ") + std::strerror(errno));
      }
    }
  }
}

bool WorkerProcess::reap(bool block) {
  if (pid_ <= 0 || reaped_) return reaped_;
  siginfo_t info{};
  // Look without reaping: while the worker is a zombie its pid (= process group id) stays
  // reserved, so killing the group cannot hit an unrelated process that reused the number.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) != 0 ||
      info.si_pid != pid_)
    return false;
  ::kill(-pid_, SIGKILL);  // anything the worker started and left behind
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  wait_status_ = status;
  reaped_ = true;
  return true;
}

std::string WorkerProcess::exit_description() {
  if (pid_ <= 0) return "not started";
  if (!reaped_ && !reap(false)) return "still running";
  return describe_status(wait_status_);
}

void WorkerProcess::close_fds() {
  for (int* fd : {&stdin_fd_, &stdout_fd_, &stderr_fd_})
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
}

void WorkerProcess::stop(double grace_s) {
  if (pid_ <= 0) return;
  if (!reaped_) {
    if (stdin_fd_ >= 0) ::shutdown(stdin_fd_, SHUT_WR);  // EOF: a well-behaved worker exits
    const auto deadline = deadline_after(grace_s);
    while (!reap(false) && Clock::now() < deadline) {
      drain_stderr();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!reaped_) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);  // in case it left its process group
      reap(true);
    }
  }
  drain_stderr();
  close_fds();
  pid_ = -1;
}

}  // namespace attn
