#include "experiments/external/case_file.h"

#include "analysis/metrics.h"
#include "core/errors.h"
#include "core/io_safetensors.h"
#include "experiments/external/judgement.h"
#include "experiments/external/problem_json.h"
#include "experiments/provenance.h"
#include "experiments/sweep_runner.h"

namespace attn {
namespace {


nlohmann::json metadata_json(const TensorFile& f, const std::string& key, const std::string& path) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end())
    throw FileFormatError("'" + path + "' has no metadata '" + key + "' (not written by attnscope make-inputs?)");
  nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw FileFormatError("'" + path + "': metadata '" + key + "' is not JSON");
  return j;
}

const NamedTensor& tensor(const TensorFile& f, const std::string& name, const std::vector<int64_t>& shape,
                          const std::string& path) {
  auto it = f.tensors.find(name);
  if (it == f.tensors.end()) throw FileFormatError("'" + path + "' has no tensor '" + name + "'");
  if (it->second.values.shape() != shape)
    throw FileFormatError("'" + path + "': tensor '" + name + "' has shape " + shape_string(it->second.values.shape()) +
                          ", the case's problem needs " + shape_string(shape));
  return it->second;
}

}  // namespace

CaseFile make_case(const Problem& problem, const InputSpec& spec, TensorLayout layout, const std::string& command) {
  CaseFile c;
  c.problem = problem;
  c.input_spec = spec;
  c.layout = layout;
  c.inputs = generate_inputs(problem, spec);
  c.truth = compute_truth(problem, c.inputs);
  c.floor = metrics_json(rounding_floor(c.truth.o, problem.dtype));
  if (const auto base = naive_baseline_output(problem, c.inputs)) {
    const nlohmann::json m = evaluate_output(problem, *base, c.truth, base.get());
    c.baseline = {{"kernel", "naive-" + std::string(dtype_name(problem.dtype))},
                  {"metrics", m["kernel"]},
                  {"fa_rule_bound", m["fa_rule_bound"]}};
  }
  c.provenance = collect_provenance(command);
  return c;
}

void write_case(const std::string& path, const CaseFile& c) {
  TensorFile f;
  const StoredType type = stored_type_for(c.problem.dtype);
  f.tensors["q"] = {type, to_layout(c.inputs.q, c.layout)};
  f.tensors["k"] = {type, to_layout(c.inputs.k, c.layout)};
  f.tensors["v"] = {type, to_layout(c.inputs.v, c.layout)};
  f.tensors["truth"] = {StoredType::f64, to_layout(c.truth.o, c.layout)};
  if (!c.problem.seqlens_k.empty()) {
    Tensor<double> lens({c.problem.batch});
    for (int64_t b = 0; b < c.problem.batch; ++b) lens.flat(b) = static_cast<double>(c.problem.seqlens_k[static_cast<size_t>(b)]);
    f.tensors["seq_lens"] = {StoredType::i64, lens};
  }
  f.metadata["attnscope.format"] = kCaseFormat;
  f.metadata["attnscope.problem"] = problem_to_json(c.problem, c.layout).dump();
  f.metadata["attnscope.inputs"] =
      nlohmann::json{{"distribution", distribution_name(c.input_spec.distribution)}, {"seed", c.input_spec.seed}}.dump();
  f.metadata["attnscope.truth"] = nlohmann::json{{"method", c.truth.method},
                                                 {"fp64_gap_ulps", c.truth.fp64_gap_ulps},
                                                 {"certified_rows", c.truth.certified_rows}}
                                      .dump();
  f.metadata["attnscope.floor"] = c.floor.dump();
  f.metadata["attnscope.baseline"] = c.baseline.dump();
  f.metadata["attnscope.provenance"] = c.provenance.dump();
  write_safetensors(path, f);
}

CaseFile read_case(const std::string& path) {
  const TensorFile f = read_safetensors(path);
  auto format = f.metadata.find("attnscope.format");
  if (format == f.metadata.end() || format->second != kCaseFormat)
    throw FileFormatError("'" + path + "' is not an attnscope case (metadata attnscope.format != \"" +
                          std::string(kCaseFormat) + "\"; write one with `attnscope make-inputs`)");
  CaseFile c;
  const nlohmann::json problem = metadata_json(f, "attnscope.problem", path);
  try {
    c.problem = problem_from_json(problem, "'" + path + "' attnscope.problem");
    c.layout = layout_from_json(problem, "'" + path + "' attnscope.problem");
  } catch (const ProblemError& e) {
    throw FileFormatError("'" + path + "': attnscope.problem: " + e.what());
  }
  const nlohmann::json inputs = metadata_json(f, "attnscope.inputs", path);
  try {
    c.input_spec.distribution = parse_distribution(inputs.at("distribution").get<std::string>());
    c.input_spec.seed = inputs.at("seed").get<uint64_t>();
  } catch (const std::exception& e) {
    throw FileFormatError("'" + path + "': attnscope.inputs: " + e.what());
  }
  const StoredType type = stored_type_for(c.problem.dtype);
  const auto q_shape = shape_in_layout(c.problem.q_shape(), c.layout);
  const auto kv_shape = shape_in_layout(c.problem.kv_shape(), c.layout);
  for (const char* name : {"q", "k", "v"}) {
    const NamedTensor& t = tensor(f, name, name[0] == 'q' ? q_shape : kv_shape, path);
    if (t.type != type)
      throw FileFormatError("'" + path + "': tensor '" + name + "' is " + stored_type_name(t.type) + ", the problem's dtype is " +
                            std::string(dtype_name(c.problem.dtype)));
  }
  c.inputs = inputs_from_layout(f.tensors.at("q").values, f.tensors.at("k").values, f.tensors.at("v").values, c.layout);
  const NamedTensor& truth = tensor(f, "truth", q_shape, path);
  if (truth.type != StoredType::f64) throw FileFormatError("'" + path + "': tensor 'truth' must be F64");
  c.truth.o = from_layout(truth.values, c.layout);
  if (!c.problem.seqlens_k.empty()) {
    const NamedTensor& lens = tensor(f, "seq_lens", {c.problem.batch}, path);
    for (int64_t b = 0; b < c.problem.batch; ++b)
      if (lens.values.flat(b) != static_cast<double>(c.problem.seqlens_k[static_cast<size_t>(b)]))
        throw FileFormatError("'" + path + "': tensor 'seq_lens' disagrees with attnscope.problem at batch entry " +
                              std::to_string(b));
  }
  const nlohmann::json truth_meta = metadata_json(f, "attnscope.truth", path);
  c.truth.method = truth_meta.value("method", "");
  if (truth_meta.contains("fp64_gap_ulps") && truth_meta["fp64_gap_ulps"].is_number())
    c.truth.fp64_gap_ulps = truth_meta["fp64_gap_ulps"].get<double>();
  c.truth.certified_rows = truth_meta.value("certified_rows", 0);
  c.floor = metadata_json(f, "attnscope.floor", path);
  c.baseline = metadata_json(f, "attnscope.baseline", path);
  c.provenance = metadata_json(f, "attnscope.provenance", path);
  return c;
}

}  // namespace attn
