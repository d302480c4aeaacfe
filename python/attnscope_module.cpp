// attnscope_module.cpp: the compiled half of the Python package (`attnscope._attnscope`,
// pybind11). Arrays arrive as C-contiguous float64 with their attnscope dtype named by the Python
// half (python/attnscope/__init__.py infers it from numpy / torch / ml_dtypes and converts), and
// results go back as float64 arrays and JSON text. Every attnscope error becomes a Python
// ValueError with attnscope's message. What it is not: the public API (see __init__.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/layout.h"
#include "experiments/external/case_file.h"
#include "experiments/external/judgement.h"
#include "experiments/external/problem_json.h"

namespace py = pybind11;

namespace {

using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

attn::Tensor<double> to_tensor(const Array& a) {
  std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
  attn::Tensor<double> t(shape);
  const double* p = a.data();
  std::copy(p, p + t.numel(), t.data());
  return t;
}

Array to_array(const attn::Tensor<double>& t) {
  Array a(std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
  std::copy(t.data(), t.data() + t.numel(), a.mutable_data());
  return a;
}

/// Inputs must already be values of their dtype: the truth is of the quantized inputs.
void require_in_dtype(const attn::Tensor<double>& t, attn::DType dtype, const char* name) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.flat(i);
    if (!std::isfinite(x))
      throw attn::NonFiniteError(std::string(name) + " holds a non-finite value at flat index " + std::to_string(i));
    if (attn::round_to(dtype, x) != x)
      throw attn::ProblemError(std::string(name) + " holds " + std::to_string(x) + " (flat index " + std::to_string(i) +
                               "), not a " + std::string(attn::dtype_name(dtype)) +
                               " value: pass the arrays your kernel actually received (rounded to the dtype)");
  }
}

attn::DeclaredSemantics semantics(const std::string& dtype, const std::string& mask, std::optional<double> scale,
                                  const std::string& gqa, std::optional<std::vector<int64_t>> seq_lens,
                                  const std::string& layout) {
  attn::DeclaredSemantics d;
  d.dtype = attn::parse_dtype(dtype);
  d.mask = attn::parse_mask(mask);
  d.scale = scale;
  d.gqa = attn::parse_gqa(gqa);
  if (seq_lens) d.seq_lens = *seq_lens;
  d.layout = attn::parse_layout(layout);
  return d;
}

struct Operands {
  attn::Tensor<double> q, k, v;
};

Operands operands(const Array& q, const Array& k, const Array& v, const attn::DeclaredSemantics& d) {
  Operands o{to_tensor(q), to_tensor(k), to_tensor(v)};
  require_in_dtype(o.q, d.dtype, "q");
  require_in_dtype(o.k, d.dtype, "k");
  require_in_dtype(o.v, d.dtype, "v");
  return o;
}

Array truth(const Array& q, const Array& k, const Array& v, const std::string& dtype, const std::string& mask,
            std::optional<double> scale, const std::string& gqa, std::optional<std::vector<int64_t>> seq_lens,
            const std::string& layout) {
  const attn::DeclaredSemantics d = semantics(dtype, mask, scale, gqa, seq_lens, layout);
  const Operands in = operands(q, k, v, d);
  attn::Tensor<double> o;
  {
    py::gil_scoped_release release;
    const attn::Problem p = attn::problem_from_tensors(in.q, in.k, in.v, d);
    const attn::Truth t = attn::compute_truth(p, attn::inputs_from_layout(in.q, in.k, in.v, d.layout));
    o = attn::to_layout(t.o, d.layout);
  }
  return to_array(o);
}

/// What check and diagnose share: the declared semantics, the inputs, the output and its dtype.
struct Judged {
  attn::DeclaredSemantics declared;
  Operands in;
  attn::Tensor<double> o;
  attn::DType out_dtype;
  attn::DiagnosisOptions options;
};

Judged judged(const Array& o, const std::string& o_stored, const Array& q, const Array& k, const Array& v,
              const std::string& dtype, const std::string& mask, std::optional<double> scale, const std::string& gqa,
              std::optional<std::vector<int64_t>> seq_lens, const std::string& layout, int64_t max_rows) {
  Judged j{semantics(dtype, mask, scale, gqa, seq_lens, layout), {}, to_tensor(o), attn::DType::fp16, {}};
  j.in = operands(q, k, v, j.declared);
  j.out_dtype = attn::output_dtype_of(attn::stored_type_for(attn::parse_dtype(o_stored)), j.o, j.declared.dtype);
  j.options.max_rows_per_head = max_rows;
  return j;
}

std::string check(const Array& o, const std::string& o_stored, const Array& q, const Array& k, const Array& v,
                  const std::string& dtype, const std::string& mask, std::optional<double> scale, const std::string& gqa,
                  std::optional<std::vector<int64_t>> seq_lens, const std::string& layout, int64_t max_rows) {
  const Judged c = judged(o, o_stored, q, k, v, dtype, mask, scale, gqa, seq_lens, layout, max_rows);
  py::gil_scoped_release release;
  nlohmann::json j = attn::judge_tensors(c.in.q, c.in.k, c.in.v, c.o, c.declared, c.out_dtype, c.options).to_json();
  j["out_dtype"] = std::string(attn::dtype_name(c.out_dtype));
  return j.dump();
}

std::string diagnose(const Array& q, const Array& k, const Array& v, const Array& o, const std::string& o_stored,
                     const std::string& dtype, const std::string& mask, std::optional<double> scale,
                     const std::string& gqa, std::optional<std::vector<int64_t>> seq_lens, const std::string& layout,
                     int64_t max_rows) {
  const Judged c = judged(o, o_stored, q, k, v, dtype, mask, scale, gqa, seq_lens, layout, max_rows);
  py::gil_scoped_release release;
  const attn::TensorDiagnosis t = attn::diagnose_tensors(c.in.q, c.in.k, c.in.v, c.o, c.declared, c.out_dtype, c.options);
  nlohmann::json j = attn::diagnosis_json(t.diagnosis);
  j["verdict_line"] = t.verdict;
  j["fits_layout"] = t.fits_layout ? nlohmann::json(attn::layout_name(*t.fits_layout)) : nlohmann::json();
  j["problem"] = t.problem.label();
  j["out_dtype"] = std::string(attn::dtype_name(c.out_dtype));
  return j.dump();
}

py::dict make_case(const std::string& problem_json, const std::string& distribution, uint64_t seed,
                   bool with_truth) {
  const nlohmann::json pj = nlohmann::json::parse(problem_json);
  const attn::Problem problem = attn::problem_from_json(pj, "make_case");
  const attn::TensorLayout layout = attn::layout_from_json(pj, "make_case");
  attn::InputSpec spec;
  spec.distribution = attn::parse_distribution(distribution);
  spec.seed = seed;
  attn::AttentionInputs in;
  attn::Truth truth;
  {
    py::gil_scoped_release release;
    in = attn::generate_inputs(problem, spec);
    if (with_truth) truth = attn::compute_truth(problem, in);
  }
  py::dict out;
  out["q"] = to_array(attn::to_layout(in.q, layout));
  out["k"] = to_array(attn::to_layout(in.k, layout));
  out["v"] = to_array(attn::to_layout(in.v, layout));
  if (with_truth) out["truth"] = to_array(attn::to_layout(truth.o, layout));
  out["problem"] = attn::problem_to_json(problem, layout).dump();
  out["label"] = problem.label();
  return out;
}

}  // namespace

PYBIND11_MODULE(_attnscope, m) {
  m.doc() = "attnscope's compiled core; use the `attnscope` package";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const attn::Error& e) {
      PyErr_SetString(PyExc_ValueError, (std::string("attnscope: ") + e.what()).c_str());
    } catch (const nlohmann::json::exception& e) {
      PyErr_SetString(PyExc_ValueError, (std::string("attnscope: ") + e.what()).c_str());
    }
  });
  m.def("truth", &truth, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("dtype"), py::arg("mask"), py::arg("scale"),
        py::arg("gqa"), py::arg("seq_lens"), py::arg("layout"));
  m.def("check", &check, py::arg("o"), py::arg("o_stored"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("dtype"),
        py::arg("mask"), py::arg("scale"), py::arg("gqa"), py::arg("seq_lens"), py::arg("layout"), py::arg("max_rows"));
  m.def("diagnose", &diagnose, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("o"), py::arg("o_stored"),
        py::arg("dtype"), py::arg("mask"), py::arg("scale"), py::arg("gqa"), py::arg("seq_lens"), py::arg("layout"),
        py::arg("max_rows"));
  m.def("make_case", &make_case, py::arg("problem_json"), py::arg("distribution"), py::arg("seed"),
        py::arg("with_truth"));
}
