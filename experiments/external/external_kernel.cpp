#include "experiments/external/external_kernel.h"

#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/io_npy.h"
#include "experiments/external/judgement.h"
#include "experiments/external/problem_json.h"
#include "experiments/external/worker_process.h"

namespace attn {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string dtype_list(const std::vector<DType>& dtypes) {
  std::string s;
  for (DType d : dtypes) s += (s.empty() ? "" : ",") + std::string(dtype_name(d));
  return s;
}


/// One external kernel's worker and scratch folder, shared by every copy of its Kernel.
class ExternalWorker {
 public:
  explicit ExternalWorker(ExternalKernelSpec spec) : spec_(std::move(spec)) {}
  ~ExternalWorker() {
    process_.reset();  // stop the worker before its folder goes
    if (!scratch_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_, ignored);
    }
  }

  AttentionOutputs run(const Problem& problem, const AttentionInputs& inputs) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string where = "external kernel '" + spec_.name + "' on " + problem.label();
    if (failures_in_a_row_ >= spec_.max_failures)
      throw Error(where + ": not run — the worker failed " + std::to_string(failures_in_a_row_) +
                  " times in a row and is not restarted (last failure: " + last_failure_ + ")");
    const auto t_start = Clock::now();
    const int64_t id = ++requests_;
    const std::filesystem::path dir = scratch() / std::to_string(id);
    std::filesystem::create_directories(dir);
    struct RemoveDir {
      std::filesystem::path p;
      ~RemoveDir() {
        std::error_code ignored;
        std::filesystem::remove_all(p, ignored);
      }
    } remove_dir{dir};
    write_inputs(dir, problem, inputs);
    const double write_ms = ms_since(t_start);

    const auto t_request = Clock::now();
    bool started_now = false;
    nlohmann::json answer;
    try {
      if (!process_) {
        process_ = std::make_unique<WorkerProcess>(spec_.command, spec_.env);
        process_->start();
        started_now = true;
      }
      const double timeout = spec_.timeout_s + (started_now ? spec_.startup_timeout_s : 0.0);
      const nlohmann::json request{{"id", id}, {"dir", dir.string()}, {"problem", problem_to_json(problem, spec_.layout)}};
      process_->send_line(request.dump(), timeout);
      const std::string line = process_->read_line(timeout);
      answer = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (answer.is_discarded() || !answer.is_object())
        throw WorkerFailure(WorkerFailure::Kind::protocol, "answer is not a JSON object: '" + line.substr(0, 200) + "'");
      if (!answer.contains("id") || !answer["id"].is_number_integer() || answer["id"].get<int64_t>() != id)
        throw WorkerFailure(WorkerFailure::Kind::protocol,
                            "answer " + line.substr(0, 200) + " does not carry the request's id " + std::to_string(id));
      if (!answer.contains("ok") || !answer["ok"].is_boolean())
        throw WorkerFailure(WorkerFailure::Kind::protocol, "answer " + line.substr(0, 200) + " has no boolean 'ok'");
    } catch (const WorkerFailure& e) {
      fail_worker(where, e);
    }
    failures_in_a_row_ = 0;
    const double wait_ms = ms_since(t_request);
    if (!answer["ok"].get<bool>()) {
      if (answer.contains("invalid")) throw KernelDeclinedError(spec_.name + ": " + text_of(answer["invalid"]));
      throw Error(where + ": the worker reported an error: " +
                  (answer.contains("error") ? text_of(answer["error"]) : std::string("(no reason given)")) + tail());
    }

    const auto t_read = Clock::now();
    AttentionOutputs out = read_output(dir, problem, where);
    out.run_info["external_write_ms"] = write_ms;
    out.run_info["external_wait_ms"] = wait_ms;
    out.run_info["external_read_ms"] = ms_since(t_read);
    out.run_info["external_total_ms"] = ms_since(t_start);
    out.run_info["external_worker_started"] = started_now ? 1 : 0;
    // Overhead = everything but the worker's own computation: files, pipes, process, conversions.
    const double total = out.run_info["external_total_ms"];
    if (answer.contains("kernel_ms") && answer["kernel_ms"].is_number())
      out.run_info["external_kernel_ms"] = answer["kernel_ms"].get<double>();
    if (answer.contains("run_ms") && answer["run_ms"].is_number()) {
      out.run_info["external_run_ms"] = answer["run_ms"].get<double>();
      out.run_info["external_overhead_ms"] = total - answer["run_ms"].get<double>();
    } else if (out.run_info.count("external_kernel_ms")) {
      out.run_info["external_overhead_ms"] = total - out.run_info["external_kernel_ms"];
    }
    return out;
  }

 private:
  static std::string text_of(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

  std::string tail() const {
    const std::string t = process_ ? process_->stderr_tail() : last_stderr_;
    return t.empty() ? "; worker stderr: (empty)" : "; worker stderr (last lines):\n" + t;
  }

  /// Records a protocol failure, kills the worker (restarted at the next point) and throws.
  [[noreturn]] void fail_worker(const std::string& where, const WorkerFailure& e) {
    std::string status;
    if (process_) {
      status = process_->exit_description();
      last_stderr_ = process_->stderr_tail();
      process_->stop(0);
      process_.reset();
    }
    ++failures_in_a_row_;
    last_failure_ = e.what();
    std::string msg = where + ": " + e.what();
    if (!status.empty() && status != "still running" && msg.find(status) == std::string::npos) msg += " (" + status + ")";
    msg += "; the worker is restarted at the next point";
    throw Error(msg + (last_stderr_.empty() ? "; worker stderr: (empty)" : "; worker stderr (last lines):\n" + last_stderr_));
  }

  std::filesystem::path scratch() {
    if (scratch_.empty()) {
      const std::filesystem::path base = std::filesystem::temp_directory_path();
      std::string pattern = (base / ("attnscope-external-" + spec_.name + "-XXXXXX")).string();
      if (!::mkdtemp(pattern.data())) throw Error("cannot create a scratch folder under " + base.string());
      scratch_ = pattern;
    }
    return scratch_;
  }

  void write_inputs(const std::filesystem::path& dir, const Problem& problem, const AttentionInputs& in) const {
    const StoredType type = stored_type_for(problem.dtype);
    write_npy((dir / "q.npy").string(), NamedTensor{type, to_layout(in.q, spec_.layout)});
    write_npy((dir / "k.npy").string(), NamedTensor{type, to_layout(in.k, spec_.layout)});
    write_npy((dir / "v.npy").string(), NamedTensor{type, to_layout(in.v, spec_.layout)});
    if (!problem.seqlens_k.empty()) {
      Tensor<double> lens({problem.batch});
      for (int64_t b = 0; b < problem.batch; ++b) lens.flat(b) = static_cast<double>(problem.seqlens_k[static_cast<size_t>(b)]);
      write_npy((dir / "seq_lens.npy").string(), NamedTensor{StoredType::i64, lens});
    }
  }

  AttentionOutputs read_output(const std::filesystem::path& dir, const Problem& problem, const std::string& where) const {
    const std::string path = (dir / "o.npy").string();
    if (!std::filesystem::exists(path)) throw Error(where + ": the worker answered ok but wrote no o.npy" + tail());
    NpyReadOptions options;
    options.two_byte_as_bf16 = problem.dtype == DType::bf16;
    options.expected_shape = shape_in_layout(problem.q_shape(), spec_.layout);
    NamedTensor o;
    try {
      o = read_npy(path, options);
    } catch (const FileFormatError& e) {
      throw Error(where + ": o.npy: " + e.what() + " (layout " + layout_name(spec_.layout) + ")" + tail());
    }
    AttentionOutputs out;
    out.o = from_layout(o.values, spec_.layout);
    try {
      out.out_dtype = output_dtype_of(o.type, out.o, problem.dtype);
      require_finite_output(out.o);
    } catch (const Error& e) {
      throw Error(where + ": o.npy: " + e.what() + tail());
    }
    return out;
  }

  ExternalKernelSpec spec_;
  std::mutex mutex_;
  std::unique_ptr<WorkerProcess> process_;
  std::filesystem::path scratch_;
  int64_t requests_ = 0;
  int failures_in_a_row_ = 0;
  std::string last_failure_, last_stderr_;
};

}  // namespace

Kernel make_external_kernel(const ExternalKernelSpec& spec) {
  Kernel kernel;
  kernel.info.name = spec.name;
  kernel.info.family = spec.family;
  kernel.info.planted_bug = spec.planted_bug;
  std::string command;
  for (const std::string& a : spec.command) command += (command.empty() ? "" : " ") + a;
  kernel.info.description = spec.description.empty() ? "external kernel through a worker: " + command : spec.description;
  kernel.info.traits = {{"worker", command}, {"layout", layout_name(spec.layout)}, {"dtypes", dtype_list(spec.dtypes)}};
  const std::vector<DType> dtypes = spec.dtypes;
  const std::string name = spec.name;
  kernel.invalid_reason = [dtypes, name](const Problem& problem) -> std::optional<std::string> {
    for (DType d : dtypes)
      if (d == problem.dtype) return std::nullopt;
    return name + " declares dtypes " + dtype_list(dtypes) + ", not " + std::string(dtype_name(problem.dtype));
  };
  auto worker = std::make_shared<ExternalWorker>(spec);
  kernel.run = [worker](const Problem& problem, const AttentionInputs& inputs) { return worker->run(problem, inputs); };
  return kernel;
}

void register_external_kernels(Registry& registry, const std::vector<ExternalKernelSpec>& specs) {
  for (const ExternalKernelSpec& spec : specs) registry.add(make_external_kernel(spec));
}

}  // namespace attn
