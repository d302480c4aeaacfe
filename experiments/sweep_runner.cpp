#include "experiments/sweep_runner.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "analysis/fingerprint.h"
#include "analysis/metrics.h"
#include "core/errors.h"
#include "core/memory_budget.h"
#include "experiments/tile_axis.h"
#include "experiments/external/external_kernel.h"
#include "experiments/external/judgement.h"

namespace attn {

nlohmann::json metrics_json(const ErrorMetrics& m) {
  return {{"max_abs", m.max_abs}, {"mean_abs", m.mean_abs}, {"rmse", m.rmse}, {"rel_fro", m.rel_fro},
          {"ulp_max", m.ulp_max}, {"ulp_p99", m.ulp_p99},   {"row_ulp_max", m.row_ulp_max},
          {"ulp_histogram", m.ulp_histogram},
          {"nan_count", m.nan_count}, {"inf_count", m.inf_count}, {"count", m.count}};
}

namespace {

nlohmann::json config_json(const SweepPoint& p, const Kernel& k) {
  const Problem& pr = p.problem;
  nlohmann::json config{{"kernel", k.info.name},
          {"family", k.info.family},
          {"planted_bug", k.info.planted_bug},
          {"traits", k.info.traits},
          {"batch", pr.batch},
          {"seqlen_q", pr.seqlen_q},
          {"seqlen_k", pr.seqlen_k},
          {"cache_depth", pr.seqlen_k - pr.seqlen_q},
          {"num_heads_q", pr.num_heads_q},
          {"num_heads_kv", pr.num_heads_kv},
          {"gqa_ratio", pr.group_size()},
          {"head_dim", pr.head_dim},
          {"dtype", std::string(dtype_name(pr.dtype))},
          {"mask", mask_name(pr.mask)},
          {"scale", pr.scale()},
          {"distribution", distribution_name(p.inputs.distribution)},
          {"seed", p.inputs.seed},
          {"label", pr.label()}};
  if (p.tile.set()) {  // block size as an axis: the tile this point asked for (0: the kernel's own)
    config["tile_request"] = p.tile.label();
    if (const std::optional<AlgorithmConfig>& a = k.info.algorithm) {
      config["block_m"] = a->tiles.block_m;
      config["block_n"] = a->tiles.block_n;
      config["num_splits"] = a->tiles.num_splits;
    }
  }
  return config;
}

/// Checks (and writes) the database's record of this sweep; returns the spec hash.
std::string reconcile_record(const SweepSpec& spec, const std::vector<SweepPoint>& points, ResultsDb& db,
                             const SweepOptions& opt) {
  SweepRecord now;
  now.name = spec.name;
  now.spec = expanded_spec_json(spec, points);
  now.spec_hash = spec_hash(now.spec);
  now.commit = opt.build_commit.empty() ? "unknown" : opt.build_commit;
  now.points = static_cast<int>(points.size());
  if (opt.resume == ResumePolicy::fresh) db.delete_sweep(spec.name);
  const std::optional<SweepRecord> before = db.sweep_record(spec.name);
  const bool has_rows = !db.done_points(spec.name).empty();
  std::string stale;  // why the stored rows do not belong to this spec and build
  if (before) {
    if (before->spec_hash != now.spec_hash)
      stale = "was written by another spec (hash " + before->spec_hash + ", " + std::to_string(before->points) +
              " points; this spec: " + now.spec_hash + ", " + std::to_string(now.points) + " points)";
    else if (before->commit != now.commit)
      stale = "was written by another build (commit " + before->commit + "; this build: " + now.commit + ")";
  } else if (has_rows) {
    stale = "has rows but no spec record (written by an older attnscope)";
  }
  if (!stale.empty() && opt.resume != ResumePolicy::resume_stale)
    throw Error("sweep '" + spec.name + "' in '" + db.path() + "' " + stale +
                ": resuming would mix its rows with this run's. Pass --fresh to start over (deletes that sweep's "
                "rows) or --resume-stale to keep them explicitly");
  if (before && stale.empty()) return now.spec_hash;
  if (before) {  // --resume-stale: the record says which other builds' rows are mixed in
    now.stale_commits = before->stale_commits;
    if (before->commit != now.commit) now.stale_commits.push_back(before->commit);
  } else if (has_rows) {
    now.stale_commits.push_back("unrecorded");
  }
  db.write_sweep_record(now);
  return now.spec_hash;
}

}  // namespace

nlohmann::json evaluate_output(const Problem& problem, const AttentionOutputs& out, const Truth& truth,
                               const AttentionOutputs* baseline) {
  const ErrorMetrics kernel = compute_metrics(out.o, truth.o, out.out_dtype);
  const ErrorMetrics floor = rounding_floor(truth.o, out.out_dtype);
  nlohmann::json j{{"kernel", metrics_json(kernel)},
                   {"floor", metrics_json(floor)},
                   {"out_dtype", std::string(dtype_name(out.out_dtype))},
                   {"truth_method", truth.method},
                   {"truth_device", truth.device},
                   {"truth_seconds", truth.seconds},
                   {"truth_fp64_gap_ulps", truth.fp64_gap_ulps},
                   {"fully_masked_rows", problem.fully_masked_rows()}};
  // excess = kernel rmse / floor rmse. A zero floor (truth exactly representable, e.g. one visible
  // key) gives 1.0 when the kernel is exact too, and is undefined (null: infinite) otherwise.
  if (floor.rmse > 0) j["excess"] = kernel.rmse / floor.rmse;
  else j["excess"] = kernel.rmse == 0 ? nlohmann::json(1.0) : nlohmann::json(nullptr);
  if (baseline) {
    const ErrorMetrics base = compute_metrics(baseline->o, truth.o, baseline->out_dtype);
    const FaRuleVerdict rule = fa_rule(kernel, base);
    j["baseline"] = metrics_json(base);
    j["fa_rule_bound"] = rule.bound;
    j["fa_rule_ratio"] = rule.ratio;  // max_abs / bound: the rule holds at <= 1 (null when infinite)
    j["fa_rule_pass"] = rule.pass;
  }
  return j;
}

void require_sweep_memory(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  const SweepPoint* largest = nullptr;
  uint64_t most = 0;
  for (const SweepPoint& p : points) {
    const uint64_t bytes = p.problem.estimated_bytes(spec.attribution);
    if (bytes > most) {
      most = bytes;
      largest = &p;
    }
  }
  if (largest) require_memory(most, "sweep '" + spec.name + "': point " + largest->key());
}

Registry sweep_registry(const SweepSpec& spec, const Registry& base) {
  Registry registry = base;
  register_external_kernels(registry, spec.externals);
  return registry;
}

SweepSummary run_sweep(const SweepSpec& spec, const Registry& base_registry, ResultsDb& db, const SweepOptions& opt) {
  // [[external]] kernels join a copy of the registry for this sweep: each worker starts at its
  // first point and stops when the sweep returns.
  Registry with_external;
  if (!spec.externals.empty()) with_external = sweep_registry(spec, base_registry);
  const Registry& registry = spec.externals.empty() ? base_registry : with_external;
  if (opt.shard_count < 1 || opt.shard_index < 0 || opt.shard_index >= opt.shard_count)
    throw Error("shard " + std::to_string(opt.shard_index) + "/" + std::to_string(opt.shard_count) +
                " is not valid (need 0 <= index < count)");
  const std::vector<SweepPoint> points = expand_sweep(spec, registry, opt.use_gpu);
  require_sweep_memory(spec, points);
  SweepSummary summary;
  summary.spec_hash = reconcile_record(spec, points, db, opt);
  const std::set<std::string> done = db.done_points(spec.name);

  // Inputs, truth and baseline of the current data point: expand_sweep puts kernels innermost,
  // so consecutive points share them and one cached entry suffices.
  struct Shared {
    std::string key;
    AttentionInputs inputs;
    Truth truth;
    std::optional<BaselineResult> baseline;
  };
  std::unique_ptr<Shared> shared;

  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  const auto sweep_started = Clock::now();
  SweepProgress progress;
  progress.sweep = spec.name;
  // A shard takes whole data groups (consecutive points sharing inputs and truth: kernels are
  // innermost), so no two shards compute the same truth; groups go round-robin to the shards.
  const auto data_key_of = [](const SweepPoint& p) {
    return p.problem.label() + "|" + distribution_name(p.inputs.distribution) + "|" + std::to_string(p.inputs.seed);
  };
  std::vector<bool> mine(points.size(), false);
  for (size_t index = 0, group = 0; index < points.size(); ++index) {
    if (index > 0 && data_key_of(points[index]) != data_key_of(points[index - 1])) ++group;
    mine[index] = static_cast<int>(group % static_cast<size_t>(opt.shard_count)) == opt.shard_index;
  }
  for (size_t index = 0; index < points.size(); ++index)
    if (mine[index] &&
        !done.count(points[index].key()))
      ++progress.to_run;

  for (size_t index = 0; index < points.size(); ++index) {
    if (!mine[index]) continue;
    const SweepPoint& point = points[index];
    ++summary.points;
    if (done.count(point.key())) {
      ++summary.already_done;
      continue;
    }
    const Kernel& registered = registry.get(point.kernel);
    // Block size as an axis: the implementation of this kernel at the point's tile (tile_axis.h).
    const TiledKernel tiled = point.tile.set() ? kernel_at_tile(registered, point.tile, registry) : TiledKernel{};
    const Kernel& kernel = tiled.kernel ? *tiled.kernel : registered;
    ResultRow row{spec.name, point.key(), registered.info.name, "ok", "", config_json(point, kernel), nullptr, nullptr,
                  opt.provenance};
    row.config["kernel"] = registered.info.name;
    if (!tiled.variant.empty()) row.config["tile_variant"] = tiled.variant;
    try {
      point.problem.validate();
      std::optional<std::string> invalid = kernel.invalid_reason ? kernel.invalid_reason(point.problem) : std::nullopt;
      if (point.tile.set() && !tiled.kernel) invalid = tiled.invalid;
      if (!invalid && !spec.allow_masked_rows && point.problem.fully_masked_rows() > 0) {
        try {
          point.problem.require_no_fully_masked_rows();
        } catch (const ProblemError& e) {
          invalid = e.what();
        }
      }
      if (invalid) {
        row.status = "invalid";
        row.message = *invalid;
      } else {
        const std::string data_key = data_key_of(point);
        if (!shared || shared->key != data_key) {
          const auto truth_started = Clock::now();
          shared = std::make_unique<Shared>();
          shared->key = data_key;
          shared->inputs = generate_inputs(point.problem, point.inputs);
          TruthOptions truth_options;
          truth_options.device = opt.reference_device;
          truth_options.progress = opt.truth_progress ? opt.truth_progress : opt.log;
          shared->truth = compute_truth(point.problem, shared->inputs, truth_options);
          shared->baseline = same_precision_baseline(point.problem, shared->inputs, opt.reference_device);
          summary.times.truth += seconds_since(truth_started);
        }
        const auto started = Clock::now();
        const AttentionOutputs out = kernel.run(point.problem, shared->inputs);
        const double kernel_seconds = seconds_since(started);
        summary.times.kernel += kernel_seconds;
        row.provenance["point_seconds"] = kernel_seconds;
        const auto metrics_started = Clock::now();
        row.metrics = evaluate_output(point.problem, out, shared->truth, shared->baseline ? &shared->baseline->outputs : nullptr);
        if (shared->baseline) row.metrics["baseline_implementation"] = shared->baseline->implementation;
        if (!out.run_info.empty()) row.metrics["run_info"] = out.run_info;
        // A kernel attnscope has no source for gets its numerics fingerprinted (analysis/fingerprint.h:
        // ~1 s a point); the others skip the fingerprint inside their diagnosis too.
        const bool numerics = wants_numerics_column(kernel.info);
        if (spec.diagnosis) {
          DiagnosisOptions options;
          options.fingerprint = numerics;
          const Diagnosis dx = diagnose(point.problem, shared->inputs, out.o, out.out_dtype, options);
          row.metrics["diagnosis"] = diagnosis_json(dx);
          if (numerics)
            row.metrics["numerics"] = dx.precision ? fingerprint_json(*dx.precision, false)
                                                   : nlohmann::json{{"label", "n/a"}, {"why", verdict_line(dx)}};
        } else if (numerics) {
          row.metrics["numerics"] = numerics_column(point.problem, shared->inputs, out);
        }
        summary.times.metrics += seconds_since(metrics_started);
        if (spec.attribution && opt.attribute) {
          const auto attribution_started = Clock::now();
          row.attribution = opt.attribute(kernel, point.problem, shared->inputs, shared->truth);
          summary.times.attribution += seconds_since(attribution_started);
        }
      }
    } catch (const KernelDeclinedError& e) {
      row.status = "invalid";
      row.message = e.what();
    } catch (const std::exception& e) {
      row.status = "error";
      row.message = e.what();
    }
    const auto insert_started = Clock::now();
    db.insert(row);
    summary.times.database += seconds_since(insert_started);
    if (row.status == "ok") ++summary.ok;
    else if (row.status == "invalid") ++summary.invalid;
    else ++summary.errors;
    if (opt.progress) {
      ++progress.done;
      progress.ok = summary.ok;
      progress.invalid = summary.invalid;
      progress.errors = summary.errors;
      progress.elapsed = seconds_since(sweep_started);
      progress.last_key = point.key();
      progress.last_status = row.status;
      opt.progress(progress);
    }
    if (opt.log) {
      std::string line = "[" + std::to_string(index + 1) + "/" + std::to_string(points.size()) + "] " + point.key() +
                         ": " + row.status;
      if (row.status == "ok" && row.metrics.contains("kernel"))
        line += " max_abs=" + std::to_string(row.metrics["kernel"]["max_abs"].get<double>());
      if (!row.message.empty()) line += " (" + row.message + ")";
      opt.log(line);
    }
  }
  summary.times.wall = seconds_since(sweep_started);
  return summary;
}

namespace {
/// 75 -> "1m15s", 4000 -> "1h06m40s".
std::string duration_text(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}
}  // namespace

std::string progress_line(const SweepProgress& p) {
  char buf[160];
  const double fraction = p.to_run > 0 ? static_cast<double>(p.done) / p.to_run : 1.0;
  const double per_minute = p.elapsed > 0 ? 60.0 * p.done / p.elapsed : 0.0;
  // ETA from the mean rate so far (points differ in cost; the mean is the honest estimate).
  const std::string eta = p.done > 0 ? duration_text(p.elapsed / p.done * (p.to_run - p.done)) : "?";
  std::snprintf(buf, sizeof buf, "%d/%d (%.1f%%), %.1f points/min, ETA %s; %d ok, %d invalid, %d errors", p.done,
                p.to_run, 100.0 * fraction, per_minute, eta.c_str(), p.ok, p.invalid, p.errors);
  return "sweep '" + p.sweep + "': " + buf;
}

std::string throughput_line(const SweepSummary& s) {
  const int computed = s.ok + s.invalid + s.errors;
  const SweepTimes& t = s.times;
  const double parts = t.truth + t.kernel + t.metrics + t.attribution + t.database;
  auto share = [&](double x) {
    char b[16];
    std::snprintf(b, sizeof b, "%.0f%%", parts > 0 ? 100.0 * x / parts : 0.0);
    return std::string(b);
  };
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.1f points/min", t.wall > 0 ? 60.0 * computed / t.wall : 0.0);
  return std::to_string(computed) + " points in " + duration_text(t.wall) + ": " + rate + "; time: truth " +
         share(t.truth) + ", kernel " + share(t.kernel) + ", metrics " + share(t.metrics) + ", attribution " +
         share(t.attribution) + ", database " + share(t.database);
}

}  // namespace attn
