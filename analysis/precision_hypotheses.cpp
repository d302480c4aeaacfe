// precision_hypotheses.cpp: the hypothesis family and its pipeline (analysis/precision_hypotheses.h).
// One row at a time: scores -> online-softmax stage (core/pipeline/online_softmax.h: per KV tile,
// or over every key at once for the two-pass form) -> P cast -> PV into the accumulator format
// -> normalize -> output rounding. The stages are the shared ones, instantiated with
// FormatArithmetic: the FA2 kernel contract's FP32 operations with the hypothesis' formats in
// place of the kernel's. The products (QK^T, PV) are the hypothesis' own, as a kernel's are.
#include "analysis/precision_hypotheses.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "analysis/emulator.h"  // parallel_for
#include "analysis/tensor_core_model.h"
#include "core/errors.h"
#include "core/pipeline/arithmetic.h"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"
#include "core/validation.h"
#include "references/attention_row.h"

namespace attn {
namespace {

using pipeline::ex2_approx_model;
using pipeline::fma_fp32;
using pipeline::kLog2e;
using pipeline::kNegInf;
using pipeline::round_fp32;
constexpr int kMmaK = 16;  // keys per m16n8k16 k-step (tensor-core products)

/// Rounds to `f` as the GPU's conversion does: RNE with IEEE overflow to inf for the 16-bit
/// formats (cvt.rn.f16.f32, cvt.rn.bf16.f32), saturating for the 8-bit ones (PTX requires
/// .satfinite for cvt to e4m3x2/e5m2x2). FP32 and FP64 take the fast paths.
double round_in(double x, const FloatFormat& f) {
  if (&f == &kFp64) return x;
  if (&f == &kFp32) return round_fp32(x);
  if (f.exponent_bits + f.mantissa_bits() + 1 <= 8) return round_to_format_satfinite(x, f);
  return round_to_format(x, f);
}

/// The hypothesis' arithmetic: core/pipeline's FA2 FP32 arithmetic (Fp32Arithmetic, the kernel
/// contract) with the operations whose precision a hypothesis changes replaced: exp flavour and
/// units, the rescale factor's format, the accumulator's format, P's format. Exponent units: log2
/// for exp2 / ex2.approx (m = max s * scale * log2e), natural for exp (then the split LSEs are
/// converted to base 2 when written, so the combine is the FA2 one).
struct FormatArithmetic : pipeline::Fp32Arithmetic {
  const PrecisionHypothesis& h;
  explicit FormatArithmetic(const PrecisionHypothesis& hypothesis) : h(hypothesis) {}

  double exponential(double x) const {
    switch (h.exp) {
      case ExpFlavour::exp: return round_fp32(std::exp(x));
      case ExpFlavour::exp2: return round_fp32(std::exp2(x));
      case ExpFlavour::ex2_approx: return ex2_approx_model(x);
    }
    return 0;
  }
  /// softmax_scale in the exponent's units, rounded to FP32 once (contract step 0).
  double scale_log2(double softmax_scale) const {
    return round_fp32(h.exp == ExpFlavour::exp ? softmax_scale : softmax_scale * kLog2e);
  }
  double score(double exact_dot) const { return round_in(exact_dot, *h.scores); }
  // exp stage
  double exp_score(double s, double scale, double m) const { return s == kNegInf ? 0.0 : exponential(fma_fp32(s, scale, -m)); }
  // rescale stage
  double rescale_factor(double m_old, double m_new) const { return round_in(exponential(round_fp32(m_old - m_new)), *h.rescale); }
  /// The accumulator lives in its format: the rescaled value is rounded to it once.
  double rescale_o(double o, double alpha) const { return round_in(o * alpha, *h.accumulator); }
  // p_cast stage
  double round_p(double p) const { return round_in(p, *h.p); }
  // pv_accumulate: one block's FP32 partial into the accumulator format
  double accumulate(double o, double partial) const { return round_in(o + partial, *h.accumulator); }
  double split_lse(double m, double l) const {
    if (h.exp == ExpFlavour::exp) return round_fp32(round_fp32(m + round_fp32(std::log(l))) * pipeline::kLog2eF);
    return pipeline::Fp32Arithmetic::split_lse(m, l);
  }
};

/// What a row pipeline reads: its scores (raw q.k, -inf never: only visible keys are listed) and
/// the values of those keys.
struct RowView {
  const double* scores = nullptr;  ///< (keys) raw q.k in the products' arithmetic
  const int* key_index = nullptr;  ///< (keys) the key position j of each listed key, ascending
  int keys = 0;
  int64_t key_count = 0;           ///< keys of the batch entry (visible or not): the split plan's range
  /// value row of the n-th listed key (D contiguous doubles)
  std::function<const double*(int)> value;
  int64_t head_dim = 0;
  const TensorCoreModel* tensor_core = nullptr;  ///< non-null: PV through the MMA model
};

/// End of the run of listed keys from k0 whose positions share one block of `block` keys
/// (blocks aligned to key position 0, as a kernel's tiles are).
int block_end(const RowView& row, int k0, int limit, int block) {
  const int first_block = row.key_index[k0] / block;
  int k1 = k0 + 1;
  while (k1 < limit && row.key_index[k1] / block == first_block) ++k1;
  return k1;
}

/// PV of the listed keys [k0, k1) with cast P `pc` (indexed like the keys) added into `o` in
/// blocks of `chunk` key positions: each block's FP32 partial (or its MMA chain) then one
/// accumulator rounding.
void accumulate_pv(const FormatArithmetic& a, const RowView& row, const double* pc, int k0, int k1, int chunk,
                   double* o, std::vector<double>& partial, std::vector<double>& column) {
  const int64_t D = row.head_dim;
  for (int c0 = k0, c1; c0 < k1; c0 = c1) {
    c1 = block_end(row, c0, k1, chunk);
    if (row.tensor_core == nullptr) {
      std::fill(partial.begin(), partial.end(), 0.0);
      for (int k = c0; k < c1; ++k) {
        const double p = pc[k];
        if (p == 0) continue;
        const double* v = row.value(k);
        for (int64_t d = 0; d < D; ++d) partial[static_cast<size_t>(d)] += p * v[d];  // double: exact to ~1e-16
      }
      for (int64_t d = 0; d < D; ++d) o[d] = a.accumulate(o[d], round_fp32(partial[static_cast<size_t>(d)]));
    } else {
      // The MMA chain: 16-key k-steps from an FP32 zero, then into the accumulator format.
      const int n = c1 - c0;
      column.assign(static_cast<size_t>((n + kMmaK - 1) / kMmaK * kMmaK), 0.0);
      std::vector<double> pk(column.size(), 0.0);
      for (int k = c0; k < c1; ++k) pk[static_cast<size_t>(k - c0)] = pc[k];
      for (int64_t d = 0; d < D; ++d) {
        for (int k = c0; k < c1; ++k) column[static_cast<size_t>(k - c0)] = row.value(k)[d];
        double acc = 0;
        for (size_t g = 0; g < column.size(); g += kMmaK)
          acc = tc_group_fma(&pk[g], &column[g], kMmaK, acc, *row.tensor_core);
        o[d] = a.accumulate(o[d], acc);
      }
    }
  }
}

/// One row of the hypothesis: writes D outputs (not yet rounded to the output dtype).
void run_row(const PrecisionHypothesis& h, const RowView& row, double softmax_scale, double* out) {
  const FormatArithmetic a(h);
  const int64_t D = row.head_dim;
  std::fill(out, out + D, 0.0);
  if (row.keys == 0) return;  // fully masked row: zeros (DESIGN.md)
  // A scale folded into the operands leaves a softmax with scale 1.
  const double scale = a.scale_log2(h.scale_fold == ScaleFold::scores ? softmax_scale : 1.0);
  std::vector<double> p(static_cast<size_t>(row.keys));  // scores, then P in place
  for (int k = 0; k < row.keys; ++k) p[static_cast<size_t>(k)] = a.score(row.scores[k]);
  std::vector<double> partial(static_cast<size_t>(D)), column;
  const int accumulate_keys = std::max(1, h.accumulate_keys);
  const auto rule = h.rescale_threshold_log2 > 0 ? pipeline::RescaleRule<double>::lazy_by(h.rescale_threshold_log2)
                                                  : pipeline::RescaleRule<double>::eager();
  // One online-softmax step over the listed keys [k0, k1), PV into o (contract steps 1-8).
  auto step = [&](pipeline::RowState<double>& state, double* o, int k0, int k1) {
    auto slice = [&](int k) -> double& { return p[static_cast<size_t>(k0 + k)]; };
    const double alpha = pipeline::online_softmax(a, state, slice, k1 - k0, scale, rule, h.numeric_bug,
                                                  pipeline::NoReduce{}, pipeline::NoReduce{});
    for (int64_t d = 0; d < D; ++d) o[d] = pipeline::rescale_o(a, o[d], alpha);
    if (h.form == SoftmaxForm::two_pass)  // the softmax is finished first: P = p / l (a division, as torch's)
      for (int k = k0; k < k1; ++k) p[static_cast<size_t>(k)] = round_fp32(p[static_cast<size_t>(k)] / state.l);
    for (int k = k0; k < k1; ++k) p[static_cast<size_t>(k)] = pipeline::cast_p(a, p[static_cast<size_t>(k)]);
    accumulate_pv(a, row, p.data(), k0, k1, accumulate_keys, o, partial, column);
  };
  if (h.form == SoftmaxForm::two_pass) {  // one step over every key: the two-pass softmax of the same stage
    pipeline::RowState<double> state;
    step(state, out, 0, row.keys);
    return;
  }
  // Online: KV tiles of block_n key positions (aligned to key 0), visited in the hypothesis'
  // order inside each split; splits are runs of ceil(tiles / num_splits) tiles over the padded
  // key range (core/pipeline/tile_plan.h), merged by their base-2 LSEs (split_combine.h).
  const int64_t block = std::max(1, h.block_n);
  struct Tile {
    int k0, k1;
    int64_t index;
  };
  std::vector<Tile> tiles;
  for (int k0 = 0, k1; k0 < row.keys; k0 = k1) {
    k1 = block_end(row, k0, row.keys, static_cast<int>(block));
    tiles.push_back({k0, k1, row.key_index[k0] / block});
  }
  const int splits = std::max(1, h.num_splits);
  const int64_t total_tiles = std::max<int64_t>(1, (row.key_count + block - 1) / block);
  const int64_t tiles_per_split = pipeline::keys_per_split_for_count<int64_t>(total_tiles, splits, block) / block;
  const auto combine = h.numeric_bug == Mutant::base2_lse_natural_combine ? pipeline::LseCombine::base2_as_natural
                                                                           : pipeline::LseCombine::matched;
  std::vector<double> split_out(static_cast<size_t>(splits * D), 0.0), split_lse(static_cast<size_t>(splits));
  for (int split = 0; split < splits; ++split) {
    std::vector<Tile> mine;
    for (const Tile& t : tiles)
      if (t.index / tiles_per_split == split) mine.push_back(t);
    if (h.order == KvBlockOrder::reverse) std::reverse(mine.begin(), mine.end());
    double* o = &split_out[static_cast<size_t>(split * D)];
    pipeline::RowState<double> state;
    for (const Tile& t : mine) step(state, o, t.k0, t.k1);
    const double inv_l = pipeline::row_normalizer(a, state.l);
    for (int64_t d = 0; d < D; ++d) o[d] = mine.empty() ? 0.0 : pipeline::normalize(a, o[d], inv_l);
    split_lse[static_cast<size_t>(split)] = mine.empty() ? kNegInf : pipeline::split_lse(a, state.m, state.l, combine);
  }
  if (splits == 1) {
    std::copy(split_out.begin(), split_out.begin() + D, out);
    return;
  }
  pipeline::combine_splits(
      a, splits, [&](int s) { return split_lse[static_cast<size_t>(s)]; },
      [&](int s) { return &split_out[static_cast<size_t>(s * D)]; }, D, out, combine);
}

/// The QK^T operands under a scale fold: q (and, for the sqrt fold, k) multiplied by the scale
/// (or its square root) in FP32 and rounded to the input dtype, as a framework's elementwise
/// multiply of a 16-bit tensor does. ScaleFold::scores leaves them unchanged. K is folded once.
struct FoldedOperands {
  ScaleFold fold;
  double factor = 1;
  DType dtype;
  Tensor<double> folded_keys;
  const Tensor<double>* keys;
  /// `prefolded`: K already folded for the sqrt fold (kept by the caller across hypotheses).
  FoldedOperands(ScaleFold f, double softmax_scale, DType t, const Tensor<double>& k,
                 const Tensor<double>* prefolded = nullptr)
      : fold(f), dtype(t), keys(&k) {
    if (f == ScaleFold::q_input_dtype) factor = round_fp32(softmax_scale);
    if (f == ScaleFold::qk_sqrt_input_dtype) {
      factor = round_fp32(std::sqrt(softmax_scale));
      if (prefolded) {
        keys = prefolded;
        return;
      }
      folded_keys = k;
      for (double& x : folded_keys.storage()) x = scaled(x);
      keys = &folded_keys;
    }
  }
  double scaled(double x) const { return round_to(dtype, round_fp32(x * factor)); }
  /// q (n values), folded into scratch when the fold scales it.
  const double* q(const double* x, int64_t n, std::vector<double>& scratch) const {
    if (fold == ScaleFold::scores) return x;
    scratch.resize(static_cast<size_t>(n));
    for (int64_t d = 0; d < n; ++d) scratch[static_cast<size_t>(d)] = scaled(x[d]);
    return scratch.data();
  }
  const double* k(int64_t b, int64_t j, int64_t kv_head) const { return &(*keys)(b, j, kv_head, 0); }
};

void require_16bit_inputs(DType dtype) {
  if (dtype != DType::fp16 && dtype != DType::bf16)
    throw ProblemError("precision hypotheses are defined for FP16/BF16 inputs; dtype is " +
                       std::string(dtype_name(dtype)));
}

}  // namespace

const char* exp_flavour_name(ExpFlavour e) {
  switch (e) {
    case ExpFlavour::exp: return "exp";
    case ExpFlavour::exp2: return "exp2";
    case ExpFlavour::ex2_approx: return "ex2.approx";
  }
  return "?";
}

std::string PrecisionHypothesis::describe() const {
  std::ostringstream s;
  if (form == SoftmaxForm::online) s << "online n" << block_n;
  else s << "two-pass";
  if (form == SoftmaxForm::online && order == KvBlockOrder::reverse) s << " reverse";
  if (form == SoftmaxForm::online && num_splits > 1) s << " split" << num_splits;
  if (scale_fold == ScaleFold::q_input_dtype) s << ", q*scale rounded";
  if (scale_fold == ScaleFold::qk_sqrt_input_dtype) s << ", q,k*sqrt(scale) rounded";
  s << ", S " << scores->name << ", " << exp_flavour_name(exp);
  if (form == SoftmaxForm::online) s << ", alpha " << rescale->name;
  if (form == SoftmaxForm::online && rescale_threshold_log2 > 0) s << " lazy " << rescale_threshold_log2;
  if (numeric_bug != Mutant::none) s << ", " << mutant_name(numeric_bug);
  s << ", P " << p->name << ", acc " << accumulator->name << "/" << accumulate_keys;
  return s.str();
}

std::string PrecisionHypothesis::precision_signature() const {
  std::ostringstream s;
  // The fold rounds q*scale (and k*sqrt(scale)) to the input dtype: the scores' format names it
  // in the family ("naive", "math"); the probe's candidates carry it the same way.
  if (scale_fold == ScaleFold::q_input_dtype) s << "q*scale rounded, ";
  if (scale_fold == ScaleFold::qk_sqrt_input_dtype) s << "q,k*sqrt(scale) rounded, ";
  s << "S " << scores->name << ", P " << p->name << ", acc " << accumulator->name;
  if (accumulator->precision < kFp32.precision) s << "/" << accumulate_keys;
  const bool fp16_alpha = numeric_bug == Mutant::rescale_in_fp16;
  if (form == SoftmaxForm::online && (rescale->precision < kFp32.precision || fp16_alpha))
    s << ", alpha " << (fp16_alpha ? kFp16.name : rescale->name);
  return s.str();
}

std::vector<PrecisionHypothesis> precision_hypotheses(DType dtype) {
  require_16bit_inputs(dtype);
  const FloatFormat& in = format_of(dtype);
  const FloatFormat& other16 = dtype == DType::fp16 ? kBf16 : kFp16;
  std::vector<PrecisionHypothesis> family;
  PrecisionHypothesis fa2;
  fa2.name = std::string("FA2-style numerics (P ") + in.name + ", FP32 accumulators)";
  fa2.label = "FA2-style";
  fa2.p = &in;
  PrecisionHypothesis upcast;
  upcast.name = "upcast numerics (FP32 everywhere, PyTorch's math backend)";
  upcast.label = "upcast";
  upcast.form = SoftmaxForm::two_pass;
  upcast.exp = ExpFlavour::exp;
  upcast.p = &kFp32;
  auto add = [&](PrecisionHypothesis base, std::string name, std::string label, auto change) {
    base.name = std::move(name);
    base.label = std::move(label);
    change(base);
    family.push_back(base);
  };
  family.push_back(fa2);
  family.push_back(upcast);
  // FP32-level variants: the same numerics as far as a 16-bit output can tell (listed so that
  // the verdict can say they cannot be told apart).
  add(fa2, std::string("FA2-style numerics with natural exp (P ") + in.name + ")", "FA2-style (exp)",
      [](PrecisionHypothesis& h) { h.exp = ExpFlavour::exp; });
  add(fa2, "online softmax with P kept in FP32 (no P cast)", "P fp32", [](PrecisionHypothesis& h) { h.p = &kFp32; });
  add(upcast, std::string("two-pass softmax, normalized P cast to ") + in.name + " before PV",
      std::string("softmax P ") + in.name, [&](PrecisionHypothesis& h) { h.p = &in; });
  // One coarser intermediate at a time, FA2-style otherwise.
  add(fa2, std::string("P cast to ") + other16.name + " before PV", std::string("P ") + other16.name,
      [&](PrecisionHypothesis& h) { h.p = &other16; });
  // The same coarser P after a two-pass FP32 softmax (normalized P): a different error pattern
  // (the rounding acts on P/l, not on exp(s - m)); the H200 dump of an FP16 kernel with P cast to
  // BF16 after torch.softmax matched no member until it was listed.
  add(upcast, std::string("two-pass softmax, normalized P cast to ") + other16.name + " before PV",
      std::string("softmax P ") + other16.name, [&](PrecisionHypothesis& h) { h.p = &other16; });
  for (const FloatFormat* f8 : {&kE5M2, &kE4M3}) {
    add(fa2, std::string("P cast to ") + f8->name + " before PV", std::string("P ") + f8->name,
        [&](PrecisionHypothesis& h) { h.p = f8; });
    add(upcast, std::string("softmax output (normalized P) cast to ") + f8->name + " before PV",
        std::string("softmax P ") + f8->name, [&](PrecisionHypothesis& h) { h.p = f8; });
  }
  for (const FloatFormat* s16 : {&kFp16, &kBf16}) {
    add(fa2, std::string("scores rounded to ") + s16->name + " before the softmax", std::string("S ") + s16->name,
        [&](PrecisionHypothesis& h) { h.scores = s16; });
  }
  // Same-precision two-pass softmax: FlashAttention's attention_ref without upcast (the gate's
  // baseline) and PyTorch's math backend before 2.5.
  add(upcast,
      std::string("scores and softmax output in ") + in.name + ", q pre-scaled (FlashAttention's reference without upcast)",
      std::string("naive ") + in.name, [&](PrecisionHypothesis& h) {
        h.scale_fold = ScaleFold::q_input_dtype;
        h.scores = &in;
        h.p = &in;
      });
  add(upcast,
      std::string("scores and softmax output in ") + in.name + ", q and k pre-scaled (PyTorch's math backend before 2.5)",
      std::string("math ") + in.name, [&](PrecisionHypothesis& h) {
        h.scale_fold = ScaleFold::qk_sqrt_input_dtype;
        h.scores = &in;
        h.p = &in;
      });
  for (const FloatFormat* acc : {&kFp16, &kBf16}) {
    add(fa2, std::string("PV accumulated in ") + acc->name + " (16-bit MMA accumulators)",
        std::string("acc ") + acc->name + "/16", [&](PrecisionHypothesis& h) {
          h.accumulator = acc;
          h.accumulate_keys = 16;
        });
    for (int block : {64, 128})
      add(fa2, std::string("PV accumulated in ") + acc->name + " across " + std::to_string(block) + "-key blocks",
          std::string("acc ") + acc->name + "/" + std::to_string(block), [&](PrecisionHypothesis& h) {
            h.accumulator = acc;
            h.block_n = block;
            h.accumulate_keys = block;
          });
  }
  add(fa2, "rescale factor rounded to fp16", "alpha fp16", [](PrecisionHypothesis& h) { h.rescale = &kFp16; });
  for (PrecisionHypothesis& h : family)
    h.healthy = h.scores->precision >= kFp32.precision && h.rescale->precision >= kFp32.precision &&
                h.accumulator->precision >= kFp32.precision && h.p->precision >= in.precision;
  return family;
}

PrecisionHypothesis find_precision_hypothesis(DType dtype, const std::string& name) {
  std::string names;
  for (const PrecisionHypothesis& h : precision_hypotheses(dtype)) {
    if (h.name == name || h.label == name) return h;
    names += (names.empty() ? "" : "; ") + h.label;
  }
  throw ProblemError("unknown precision hypothesis '" + name + "' (known: " + names + ")");
}

std::vector<QueryRow> sample_query_rows(const Problem& p, int64_t max_rows_per_head) {
  std::vector<int64_t> picked;
  const int64_t n = std::max<int64_t>(2, max_rows_per_head);
  if (p.seqlen_q <= n) {
    for (int64_t i = 0; i < p.seqlen_q; ++i) picked.push_back(i);
  } else {
    for (int64_t k = 0; k < n; ++k) picked.push_back(k * (p.seqlen_q - 1) / (n - 1));  // first and last included
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
  }
  std::vector<QueryRow> rows;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i : picked) rows.push_back({b, h, i});
  return rows;
}

HypothesisEvaluator::HypothesisEvaluator(const Problem& problem, const AttentionInputs& inputs,
                                         std::vector<QueryRow> rows, DType out_dtype, int threads)
    : inputs_(&inputs), rows_(std::move(rows)), head_dim_(problem.head_dim), scale_(problem.scale()),
      in_dtype_(problem.dtype), out_dtype_(out_dtype), threads_(threads) {
  validate_inputs(problem, inputs);
  require_16bit_inputs(problem.dtype);
  const int64_t D = head_dim_;
  data_.resize(rows_.size());
  truth_ = Tensor<double>({static_cast<int64_t>(rows_.size()), D});
  folded_keys_ = FoldedOperands(ScaleFold::qk_sqrt_input_dtype, scale_, in_dtype_, inputs.k).folded_keys;
  parallel_for(static_cast<int64_t>(rows_.size()), threads_, [&](int64_t r) {
    const QueryRow& q = rows_[static_cast<size_t>(r)];
    RowData& row = data_[static_cast<size_t>(r)];
    row.batch = q.batch;
    row.kv_head = problem.kv_head(q.head);
    const int64_t keys = problem.keys_in_batch(q.batch);
    row.key_count = keys;
    const double* qv = &inputs.q(q.batch, q.row, q.head, 0);
    for (int64_t j = 0; j < keys; ++j)
      if (problem.visible(q.batch, q.row, j)) row.keys.push_back(static_cast<int>(j));
    row.scores = folded_scores(ScaleFold::scores, r);  // the folded ones are made per hypothesis (memory)
    // Truth: the FP64 two-pass reference formula (references/attention_row.h) of this row.
    std::vector<double> scratch;
    double lse = 0;
    attend_row<double>(
        qv, D, keys, scale_, [&](int64_t j) { return &inputs.k(q.batch, j, row.kv_head, 0); },
        [&](int64_t j) { return &inputs.v(q.batch, j, row.kv_head, 0); },
        [&](int64_t j) { return problem.visible(q.batch, q.row, j); }, scratch, &truth_(r, 0), lse);
  });
}

std::vector<double> HypothesisEvaluator::folded_scores(ScaleFold fold, int64_t r) const {
  const QueryRow& q = rows_[static_cast<size_t>(r)];
  const RowData& row = data_[static_cast<size_t>(r)];
  const FoldedOperands operands(fold, scale_, in_dtype_, inputs_->k, &folded_keys_);
  std::vector<double> q_scratch, scores;
  const double* qf = operands.q(&inputs_->q(q.batch, q.row, q.head, 0), head_dim_, q_scratch);
  for (int j : row.keys) {
    const double* kf = operands.k(q.batch, j, row.kv_head);
    double dot = 0;
    for (int64_t d = 0; d < head_dim_; ++d) dot += qf[d] * kf[d];  // double: the exact scores every hypothesis rounds
    scores.push_back(dot);
  }
  return scores;
}

Tensor<double> HypothesisEvaluator::run(const PrecisionHypothesis& h) const {
  const int64_t D = head_dim_;
  Tensor<double> out({static_cast<int64_t>(rows_.size()), D});
  parallel_for(static_cast<int64_t>(rows_.size()), threads_, [&](int64_t r) {
    const RowData& row = data_[static_cast<size_t>(r)];
    RowView view;
    const std::vector<double> folded = h.scale_fold == ScaleFold::scores ? std::vector<double>() : folded_scores(h.scale_fold, r);
    view.scores = h.scale_fold == ScaleFold::scores ? row.scores.data() : folded.data();
    view.key_index = row.keys.data();
    view.keys = static_cast<int>(row.keys.size());
    view.key_count = row.key_count;
    view.head_dim = D;
    view.value = [&](int k) { return &inputs_->v(row.batch, row.keys[static_cast<size_t>(k)], row.kv_head, 0); };
    run_row(h, view, scale_, &out(r, 0));
    for (int64_t d = 0; d < D; ++d) out(r, d) = round_to(out_dtype_, out(r, d));
  });
  return out;
}

Tensor<double> run_hypothesis(const Problem& problem, const AttentionInputs& inputs, const PrecisionHypothesis& h,
                              DType out_dtype, bool tensor_core_products, int threads,
                              const std::vector<QueryRow>* only_rows) {
  validate_inputs(problem, inputs);
  require_16bit_inputs(problem.dtype);
  const int64_t D = problem.head_dim;
  TensorCoreModel model = TensorCoreModel::h100();
  model.input_min_exponent = format_of(problem.dtype).emin;
  Tensor<double> out(problem.q_shape());
  const std::vector<QueryRow> rows = only_rows ? *only_rows : sample_query_rows(problem, problem.seqlen_q);
  const FoldedOperands operands(h.scale_fold, problem.scale(), problem.dtype, inputs.k);
  parallel_for(static_cast<int64_t>(rows.size()), threads, [&](int64_t item) {
    const int64_t b = rows[static_cast<size_t>(item)].batch, h_q = rows[static_cast<size_t>(item)].head,
                  i = rows[static_cast<size_t>(item)].row;
    const int64_t kv = problem.kv_head(h_q);
    std::vector<int> keys;
    std::vector<double> scores, q_scratch;
    const double* q = operands.q(&inputs.q(b, i, h_q, 0), D, q_scratch);
    for (int64_t j = 0; j < problem.keys_in_batch(b); ++j) {
      if (!problem.visible(b, i, j)) continue;
      keys.push_back(static_cast<int>(j));
      const double* k = operands.k(b, j, kv);
      double dot = 0;
      if (tensor_core_products) dot = tc_dot(q, k, static_cast<int>(D), 0.0, model);
      else
        for (int64_t d = 0; d < D; ++d) dot += q[d] * k[d];
      scores.push_back(dot);
    }
    RowView view;
    view.scores = scores.data();
    view.key_index = keys.data();
    view.keys = static_cast<int>(keys.size());
    view.key_count = problem.keys_in_batch(b);
    view.head_dim = D;
    view.tensor_core = tensor_core_products ? &model : nullptr;
    view.value = [&](int k) { return &inputs.v(b, keys[static_cast<size_t>(k)], kv, 0); };
    double* o = &out(b, i, h_q, 0);
    run_row(h, view, problem.scale(), o);
    for (int64_t d = 0; d < D; ++d) o[d] = round_to(out_dtype, o[d]);
  });
  return out;
}

}  // namespace attn
