// probe.cpp: active probing of a callable kernel (analysis/probe.h): three crafted calls, the
// first decoded directly, the other two against candidate models.
#include "analysis/probe.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>

#include "analysis/precision_hypotheses.h"
#include "core/errors.h"
#include "core/generators.h"

namespace attn {
namespace {

constexpr int64_t kSemanticsQueries = 5;     // call 1: S_q < S_k (the cache path)
constexpr int64_t kSemanticsKeys = 37;       // not a multiple of any tile: padded keys exist
constexpr int64_t kSemanticsHeadsQ = 4, kSemanticsHeadsKv = 2;
constexpr int64_t kStructureKeys = 512;      // call 3: a multiple of every candidate tile (no padding)
constexpr int64_t kStructureQueries = 8;     // call 3: S_q < S_k, mask none (see structure_inputs)
constexpr int64_t kProbeHeads = 4;           // calls 2 and 3: four differently crafted heads
constexpr double kTieFraction = 0.005;       // match counts closer than this fraction: a tie
// Calls 2 and 3 declare a softmax scale that is not a power of two (1/sqrt(64) = 1/8 is), so
// that a scale folded into q (or q and k) in the input dtype rounds and shows.
constexpr double kProbeScale = 0.1;
const int kCandidateTiles[] = {16, 32, 64, 128};
const int kCandidateSplits[] = {1, 2, 4, 8};
const int kLeakTiles[] = {16, 32, 64, 128, 256};

/// The problems of the three calls.
/// gqa false: H_q == H_kv, for a kernel that declines grouped heads (the map is then not probed).
Problem semantics_problem(DType dtype, int64_t head_dim, bool gqa = true) {
  Problem p;
  p.seqlen_q = kSemanticsQueries;
  p.seqlen_k = std::min<int64_t>(kSemanticsKeys, head_dim - 3);  // one-hot V needs D > S_k + 1
  p.num_heads_q = kSemanticsHeadsQ;
  p.num_heads_kv = gqa ? kSemanticsHeadsKv : kSemanticsHeadsQ;
  p.head_dim = head_dim;
  p.dtype = dtype;
  p.mask = Mask{MaskKind::causal_bottom_right};
  return p;
}
Problem unmasked_problem(DType dtype, int64_t head_dim, int64_t queries, int64_t keys) {
  Problem p;
  p.seqlen_q = queries;  // no mask: every row sees every key
  p.seqlen_k = keys;
  p.num_heads_q = p.num_heads_kv = kProbeHeads;
  p.head_dim = head_dim;
  p.dtype = dtype;
  p.mask = Mask{MaskKind::none};
  p.softmax_scale = kProbeScale;
  return p;
}

bool accepts(const Kernel& kernel, const Problem& p) { return !kernel.invalid_reason || !kernel.invalid_reason(p); }

/// Calls the kernel; counts the call.
AttentionOutputs call(const Kernel& kernel, const Problem& p, const AttentionInputs& in, ProbeResult& result) {
  ++result.calls;
  return kernel.run(p, in);
}

// ---- call 1: semantics -------------------------------------------------------------------------

/// Call 1's inputs: Q = K = 0, so every visible key has score 0 and weight 1 / (keys in the
/// softmax). V: key j is the unit vector e_j; the last column marks the KV head (kv + 1).
AttentionInputs semantics_inputs(const Problem& p) {
  AttentionInputs in{Tensor<double>(p.q_shape()), Tensor<double>(p.kv_shape()), Tensor<double>(p.kv_shape())};
  for (int64_t j = 0; j < p.seqlen_k; ++j)
    for (int64_t kv = 0; kv < p.num_heads_kv; ++kv) {
      in.v(0, j, kv, j) = 1;
      in.v(0, j, kv, p.head_dim - 1) = static_cast<double>(kv + 1);
    }
  return in;
}

/// gqa: whether the kernel accepts the grouped-head call (probe_kernel asks its invalid_reason);
/// a kernel that declines it when called (an external worker answering "invalid") gets the same
/// call with H_q == H_kv, and the card says the GQA map was not probed.
void probe_semantics(const Kernel& kernel, DType dtype, int64_t D, bool gqa, ProbeResult& result) {
  Problem p = semantics_problem(dtype, D, gqa);
  std::string declined;
  AttentionOutputs out;
  try {
    out = call(kernel, p, semantics_inputs(p), result);
  } catch (const KernelDeclinedError& e) {
    if (!gqa || !accepts(kernel, semantics_problem(dtype, D, false))) throw;
    declined = e.what();
    p = semantics_problem(dtype, D, false);
    out = call(kernel, p, semantics_inputs(p), result);
  }
  if (!gqa && declined.empty() && kernel.invalid_reason)
    declined = kernel.invalid_reason(semantics_problem(dtype, D)).value_or("");
  const bool mha_only = p.num_heads_q == p.num_heads_kv;
  const Tensor<double>& o = out.o;
  const int64_t S_q = p.seqlen_q, S_k = p.seqlen_k, marker = D - 1;
  ProbeCard& card = result.card;
  // Per (head, row): the keys seen, the keys in the softmax (seen + leaked), the KV head read.
  std::vector<std::vector<bool>> seen;
  std::vector<int64_t> kv_read(static_cast<size_t>(p.num_heads_q), -1);
  std::vector<int64_t> leaks;  // rows that see the last key
  bool consistent = true;
  for (int64_t h = 0; h < p.num_heads_q; ++h)
    for (int64_t i = 0; i < S_q; ++i) {
      std::vector<bool> row(static_cast<size_t>(S_k));
      double total = 0;
      int64_t n = 0;
      for (int64_t j = 0; j < S_k; ++j) {
        const double w = o(0, i, h, j);
        row[static_cast<size_t>(j)] = w > 0;
        if (w > 0) {
          total += w;
          ++n;
        }
      }
      seen.push_back(row);
      if (n == 0) continue;
      const int64_t in_softmax = std::llround(static_cast<double>(n) / total);
      if (row[static_cast<size_t>(S_k - 1)]) leaks.push_back(in_softmax - n);
      const int64_t kv = std::llround(o(0, i, h, marker) / total) - 1;  // marker column: (kv + 1) x total weight
      if (kv_read[static_cast<size_t>(h)] >= 0 && kv_read[static_cast<size_t>(h)] != kv) consistent = false;
      kv_read[static_cast<size_t>(h)] = kv;
    }
  // Mask and cache length: the candidate whose visible sets equal the observed ones everywhere.
  struct MaskCandidate {
    MaskKind kind;
    const char* name;
    int delta;
  };
  const MaskCandidate masks[] = {{MaskKind::causal_bottom_right, "bottom-right", 0}, {MaskKind::causal_top_left, "top-left", 0},
                                 {MaskKind::none, "none", 0},
                                 {MaskKind::causal_bottom_right, "bottom-right", -1}, {MaskKind::causal_top_left, "top-left", -1},
                                 {MaskKind::none, "none", -1}};
  for (const MaskCandidate& m : masks) {
    const int64_t keys = S_k + m.delta;
    bool match = true;
    size_t r = 0;
    for (int64_t h = 0; h < p.num_heads_q && match; ++h)
      for (int64_t i = 0; i < S_q && match; ++i, ++r)
        for (int64_t j = 0; j < S_k && match; ++j)
          match = seen[r][static_cast<size_t>(j)] == (j < keys && key_visible(Mask{m.kind}, i, j, S_q, keys));
    if (match) {
      card.mask = m.name;
      card.key_delta = m.delta;
      break;
    }
  }
  // Leaked padded keys: the tile whose padding of S_k is that many keys. Two tiles can pad S_k
  // alike (37 keys: 32 and 64 both pad to 64); then one more call with S_k = 2.5 x the smaller
  // tile, where they do not, and V = 1 in column 0 only (its output is the weight of the real keys).
  card.leak_tile = 0;
  const bool one_leak = !leaks.empty() && std::all_of(leaks.begin(), leaks.end(), [&](int64_t x) { return x == leaks[0]; });
  if (one_leak && leaks[0] > 0) {
    std::vector<int> tiles;
    for (int tile : kLeakTiles)
      if ((S_k + tile - 1) / tile * tile - S_k == leaks[0]) tiles.push_back(tile);
    if (tiles.size() > 1) {
      Problem q = p;
      q.seqlen_q = 1;
      q.seqlen_k = tiles[0] * 5 / 2;
      q.num_heads_q = q.num_heads_kv = 1;
      q.mask = Mask{MaskKind::none};
      if (!kernel.invalid_reason || !kernel.invalid_reason(q)) {
        AttentionInputs ones{Tensor<double>(q.q_shape()), Tensor<double>(q.kv_shape()), Tensor<double>(q.kv_shape())};
        for (int64_t j = 0; j < q.seqlen_k; ++j) ones.v(0, j, 0, 0) = 1;
        const double real = call(kernel, q, ones, result).o(0, 0, 0, 0);
        const int64_t n = q.seqlen_k + card.key_delta;
        const int64_t leaked = real > 0 ? std::llround(static_cast<double>(n) / real) - n : -1;
        std::vector<int> kept;
        for (int tile : tiles)
          if ((q.seqlen_k + tile - 1) / tile * tile - q.seqlen_k == leaked) kept.push_back(tile);
        tiles = kept;
      }
    }
    card.leak_tile = tiles.size() == 1 ? tiles[0] : -1;  // -1: keys leak, but no single tile explains it
  }
  const int64_t group = p.num_heads_q / p.num_heads_kv;
  bool contiguous = consistent, interleaved = consistent;
  for (int64_t h = 0; h < p.num_heads_q; ++h) {
    contiguous = contiguous && kv_read[static_cast<size_t>(h)] == h / group;
    interleaved = interleaved && kv_read[static_cast<size_t>(h)] == h % p.num_heads_kv;
  }
  card.gqa = contiguous ? "contiguous" : interleaved ? "interleaved" : "?";
  // H_q == H_kv: head h must read KV head h (contiguous); which map a grouped call would use is
  // not observable. A head that reads another KV head stays "?".
  if (mha_only && contiguous) card.gqa = "declined";
  std::ostringstream note;
  if (mha_only)
    note << "call 1: the kernel declines H " << kSemanticsHeadsQ << ":" << kSemanticsHeadsKv << " ("
         << (declined.empty() ? "no reason given" : declined) << "): probed with H_q == H_kv, the GQA map not probed; ";
  note << "call 1 (semantics, S_q " << S_q << " < S_k " << S_k << ", H " << p.num_heads_q << ":" << p.num_heads_kv
       << ", uniform scores, one-hot V): mask " << card.mask << (card.key_delta ? " against S_k - 1 keys" : "")
       << ", leaked keys per row " << (leaks.empty() ? 0 : leaks[0]) << ", KV heads read";
  for (int64_t kv : kv_read) note << " " << kv;
  result.notes.push_back(note.str());
}

// ---- candidate models --------------------------------------------------------------------------

struct Match {
  int64_t exact = 0;   ///< elements equal to the kernel's
  double ulps = 0;     ///< sum of |difference| in output ULPs (the tie-breaker)
  Tensor<double> prediction;
};

Match compare(const Tensor<double>& observed, Tensor<double> predicted, const std::vector<QueryRow>& rows, DType out) {
  Match m;
  const FloatFormat& f = format_of(out);
  const int64_t D = observed.dim(3);
  for (const QueryRow& r : rows)
    for (int64_t d = 0; d < D; ++d) {
      const double a = observed(r.batch, r.row, r.head, d), b = predicted(r.batch, r.row, r.head, d);
      const bool equal = a == b || (std::isnan(a) && std::isnan(b));  // a NaN the model predicts is a match
      m.exact += equal;
      m.ulps += equal ? 0.0 : std::isfinite(a) && std::isfinite(b) ? std::fabs(a - b) / ulp_of(b, f) : 1e9;
    }
  m.prediction = std::move(predicted);
  return m;
}

bool better(const Match& a, const Match& b) { return a.exact != b.exact ? a.exact > b.exact : a.ulps < b.ulps; }

/// The best of `candidates` on the kernel's output; `runner_up` gets the best one whose prediction
/// differs from the winner's (so a tie of identical predictions is not a contest). Returns the index.
size_t choose(const std::vector<PrecisionHypothesis>& candidates, const Problem& p, const AttentionInputs& in,
              const Tensor<double>& observed, DType out, const std::vector<QueryRow>& rows, int threads,
              std::vector<Match>& matches) {
  matches.clear();
  for (const PrecisionHypothesis& h : candidates)
    matches.push_back(compare(observed, run_hypothesis(p, in, h, out, /*tensor_core_products=*/true, threads, &rows), rows, out));
  size_t best = 0;
  for (size_t i = 1; i < matches.size(); ++i)
    if (better(matches[i], matches[best])) best = i;
  return best;
}

bool same_prediction(const Match& a, const Match& b, const std::vector<QueryRow>& rows) {
  const int64_t D = a.prediction.dim(3);
  for (const QueryRow& r : rows)
    for (int64_t d = 0; d < D; ++d)
      if (!(a.prediction(r.batch, r.row, r.head, d) == b.prediction(r.batch, r.row, r.head, d)) &&
          !(std::isnan(a.prediction(r.batch, r.row, r.head, d)) && std::isnan(b.prediction(r.batch, r.row, r.head, d))))
        return false;
  return true;
}

/// Whether the winner is clearly the winner among the candidates that differ from it in one
/// trait (`differs(i)`): none predicts the same output, and none comes within kTieFraction.
bool decided(const std::vector<Match>& matches, size_t best, const std::function<bool(size_t)>& differs,
             const std::vector<QueryRow>& rows, int64_t elements) {
  for (size_t i = 0; i < matches.size(); ++i) {
    if (i == best || !differs(i)) continue;
    if (same_prediction(matches[i], matches[best], rows)) return false;
    if (static_cast<double>(matches[best].exact - matches[i].exact) < kTieFraction * static_cast<double>(elements) &&
        !(matches[best].exact == elements && matches[i].exact < elements))
      return false;
  }
  return true;
}

std::string match_note(const Match& m, int64_t elements) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%lld/%lld elements equal", static_cast<long long>(m.exact), static_cast<long long>(elements));
  return buf;
}

AttentionInputs scaled_normal_inputs(const Problem& p, uint64_t seed, double qk_factor) {
  AttentionInputs in = generate_inputs(p, {Distribution::normal, seed});
  for (double& x : in.q.storage()) x = round_to(p.dtype, x * qk_factor);
  for (double& x : in.k.storage()) x = round_to(p.dtype, x * qk_factor);
  return in;
}

// ---- call 2: precision (one tile) --------------------------------------------------------------

PrecisionHypothesis probe_precision(const Kernel& kernel, DType dtype, int64_t D, ProbeResult& result, int threads) {
  const int64_t keys = result.card.leak_tile > 0 ? result.card.leak_tile : 16;  // one tile, no padding
  const Problem p = unmasked_problem(dtype, D, keys, keys);
  // Scaled scores with standard deviation ~3 (q, k ~ N(0, 3 / (scale sqrt(D))) each): P spreads
  // over many binades and falls between the representable points of every candidate format.
  const AttentionInputs in =
      scaled_normal_inputs(p, 101, std::sqrt(3.0 / (p.scale() * std::sqrt(static_cast<double>(D)))));
  const AttentionOutputs out = call(kernel, p, in, result);
  const FloatFormat& input = format_of(dtype);
  const FloatFormat* p_formats[] = {&kFp32, &input, dtype == DType::fp16 ? &kBf16 : &kFp16, &kE5M2, &kE4M3};
  const FloatFormat* score_formats[] = {&kFp32, &kFp16, &kBf16};
  struct Acc {
    const FloatFormat* format;
    int keys;
  };
  const Acc accumulators[] = {{&kFp32, 64}, {&kFp16, 16}, {&kBf16, 16}, {&kFp16, 64}, {&kBf16, 64}};
  std::vector<PrecisionHypothesis> candidates;
  const PrecisionHypothesis fa2 = find_precision_hypothesis(dtype, "FA2-style");
  const PrecisionHypothesis upcast = find_precision_hypothesis(dtype, "upcast");
  for (const FloatFormat* s : score_formats)
    for (const FloatFormat* pf : p_formats)
      for (const Acc& acc : accumulators) {
        PrecisionHypothesis h = fa2;
        h.scores = s;
        h.p = pf;
        h.accumulator = acc.format;
        h.accumulate_keys = acc.keys;
        candidates.push_back(h);
      }
  for (ScaleFold fold : {ScaleFold::scores, ScaleFold::q_input_dtype, ScaleFold::qk_sqrt_input_dtype})
    for (const FloatFormat* s : score_formats)
      for (const FloatFormat* pf : p_formats) {
        if (fold != ScaleFold::scores && s == &kFp32) continue;  // a folded scale comes with rounded scores
        PrecisionHypothesis h = upcast;
        h.scale_fold = fold;
        h.scores = s;
        h.p = pf;
        candidates.push_back(h);
      }
  const std::vector<QueryRow> rows = sample_query_rows(p, p.seqlen_q);
  const int64_t elements = static_cast<int64_t>(rows.size()) * D;
  std::vector<Match> matches;
  const size_t best = choose(candidates, p, in, out.o, out.out_dtype, rows, threads, matches);
  const PrecisionHypothesis& h = candidates[best];
  ProbeCard& card = result.card;
  card.softmax = h.form == SoftmaxForm::online ? "online" : "two-pass";
  card.scores = h.scores->name;
  card.scale_fold = h.scale_fold == ScaleFold::q_input_dtype ? "q" : h.scale_fold == ScaleFold::qk_sqrt_input_dtype ? "q,k" : "";
  card.p_format = h.p->name;
  card.accumulator = h.accumulator->name;
  if (h.accumulator != &kFp32 && h.accumulate_keys == 16) card.accumulator += "/16";
  auto differs_in = [&](auto field) { return [&, field](size_t i) { return field(candidates[i]) != field(h); }; };
  std::vector<std::string> undecided;
  if (!decided(matches, best, differs_in([](const PrecisionHypothesis& c) { return c.p; }), rows, elements)) undecided.push_back("P format");
  if (!decided(matches, best, differs_in([](const PrecisionHypothesis& c) { return c.form; }), rows, elements))
    undecided.push_back("softmax form");
  if (!decided(matches, best, differs_in([](const PrecisionHypothesis& c) { return c.accumulator; }), rows, elements))
    undecided.push_back("accumulator");
  if (!decided(matches, best, differs_in([](const PrecisionHypothesis& c) { return c.scores; }), rows, elements))
    undecided.push_back("scores format");
  std::ostringstream note;
  note << "call 2 (precision, one " << keys << "-key tile, scores std ~3): " << h.describe() << " ("
       << match_note(matches[best], elements) << ", " << candidates.size() << " candidates)";
  if (!undecided.empty()) {
    note << "; not separated on this input:";
    for (const std::string& u : undecided) note << " " << u;
  }
  result.notes.push_back(note.str());
  return h;
}

// ---- call 3: structure (tiles, order, splits, rescale) -----------------------------------------

AttentionInputs structure_inputs(const Problem& p) {
  // Scores s_j = ramp_h(j) + noise: column 0 of q is 1 and column 0 of k carries the ramp (in
  // units of the scaled score), the other columns add noise of variance ~0.5 per row. S_q < S_k
  // is the cache path, where a kernel may drop the newest key (call 1 reports it): that key's
  // score is 60 below the rest, so its weight (e^-60) is invisible either way.
  AttentionInputs in = generate_inputs(p, {Distribution::normal, 202});
  const double scale = p.scale();
  const int64_t D = p.head_dim, S = p.seqlen_k;
  const double noise = std::pow(0.5 / (scale * scale * static_cast<double>(D - 1)), 0.25);
  for (double& x : in.q.storage()) x *= noise;
  for (double& x : in.k.storage()) x *= noise;
  for (int64_t h = 0; h < p.num_heads_q; ++h) {
    for (int64_t i = 0; i < p.seqlen_q; ++i) in.q(0, i, h, 0) = 1;
    for (int64_t j = 0; j < S; ++j) {
      double ramp = 0;
      switch (h % 4) {
        case 0: ramp = 0.025 * static_cast<double>(j); break;                 // a steady climb: the max grows in every tile
        case 1: ramp = 1.5 * static_cast<double>((j + 8) / 24); break;        // jumps of 1.5 at keys 16, 40, 64, ... (inside 16-groups)
        case 2: ramp = -0.02 * static_cast<double>(j); break;                  // a fall: the first tile holds the max
        default: ramp = 2.5 * normal_sample(303, 7, static_cast<uint64_t>(j)); // a wide spread
      }
      if (j == S - 1) ramp -= 60;
      in.k(0, j, h, 0) = ramp / scale;
    }
  }
  for (double& x : in.q.storage()) x = round_to(p.dtype, x);
  for (double& x : in.k.storage()) x = round_to(p.dtype, x);
  return in;
}

void probe_structure(const Kernel& kernel, DType dtype, int64_t D, PrecisionHypothesis base, ProbeResult& result,
                     int threads) {
  ProbeCard& card = result.card;
  if (base.form != SoftmaxForm::online) {
    result.notes.push_back("call 3 skipped: a two-pass softmax has no KV tiles, order, splits or rescale");
    return;
  }
  const Problem p = unmasked_problem(dtype, D, kStructureQueries, kStructureKeys);
  const AttentionInputs in = structure_inputs(p);
  const AttentionOutputs out = call(kernel, p, in, result);
  const std::vector<QueryRow> rows = sample_query_rows(p, kStructureQueries);
  const int64_t elements = static_cast<int64_t>(rows.size()) * D;
  struct Rescale {
    const char* name;
    float threshold;
    Mutant bug;
  };
  const Rescale policies[] = {{"every tile", 0, Mutant::none},
                              {"lazy 8", 8, Mutant::none},
                              {"alpha fp16", 0, Mutant::rescale_in_fp16},
                              {"never (P before the final max)", 0, Mutant::p_cast_before_final_max}};
  // A rescale policy keeps the combine (a hypothesis carries one planted numeric bug: a rescale bug
  // with a natural-exp combine is not modelled).
  auto with_rescale = [](PrecisionHypothesis h, const Rescale& r) {
    h.rescale_threshold_log2 = r.threshold;
    if (h.numeric_bug != Mutant::base2_lse_natural_combine || r.bug != Mutant::none) h.numeric_bug = r.bug;
    return h;
  };
  std::vector<Match> matches;
  // (a) tile width x order x splits, (b) rescale policy, (c) combine, then (a) again.
  // (a) tile width x order x splits x combine (the combine only exists with splits), (b) the
  // rescale policy, then (a) again under it.
  auto structure_grid = [&](const PrecisionHypothesis& from) {
    std::vector<PrecisionHypothesis> c;
    for (int tile : kCandidateTiles)
      for (KvBlockOrder order : {KvBlockOrder::forward, KvBlockOrder::reverse})
        for (int splits : kCandidateSplits)
          for (bool natural : {false, true}) {
            if (natural && splits == 1) continue;
            PrecisionHypothesis h = from;
            h.block_n = tile;
            if (h.accumulate_keys != 16) h.accumulate_keys = tile;
            h.order = order;
            h.num_splits = splits;
            if (h.numeric_bug == Mutant::base2_lse_natural_combine) h.numeric_bug = Mutant::none;
            if (natural) h.numeric_bug = Mutant::base2_lse_natural_combine;
            c.push_back(h);
          }
    return c;
  };
  std::vector<PrecisionHypothesis> grid = structure_grid(base);
  PrecisionHypothesis best = grid[choose(grid, p, in, out.o, out.out_dtype, rows, threads, matches)];
  std::vector<PrecisionHypothesis> rescales;
  for (const Rescale& r : policies) rescales.push_back(with_rescale(best, r));
  size_t rescale_index = choose(rescales, p, in, out.o, out.out_dtype, rows, threads, matches);
  best = rescales[rescale_index];
  grid = structure_grid(best);
  const size_t winner = choose(grid, p, in, out.o, out.out_dtype, rows, threads, matches);
  best = grid[winner];
  const std::vector<Match> grid_matches = matches;
  // Observability of each structural trait against the candidates differing in it alone.
  // Observability of each structural trait: against the candidates that differ in it alone.
  auto seen = [&](auto same_others, auto differs) {
    return decided(grid_matches, winner, [&](size_t i) { return differs(grid[i]) && same_others(grid[i]); }, rows, elements);
  };
  const bool tile_seen = seen([&](const PrecisionHypothesis& c) { return c.order == best.order && c.num_splits == best.num_splits; },
                              [&](const PrecisionHypothesis& c) { return c.block_n != best.block_n; });
  const bool order_seen = seen([&](const PrecisionHypothesis& c) { return c.block_n == best.block_n && c.num_splits == best.num_splits; },
                               [&](const PrecisionHypothesis& c) { return c.order != best.order; });
  const bool splits_seen = seen([&](const PrecisionHypothesis& c) { return c.block_n == best.block_n && c.order == best.order; },
                                [&](const PrecisionHypothesis& c) { return c.num_splits != best.num_splits; });
  // The rescale decision, re-checked with the final structure.
  rescales.clear();
  for (const Rescale& r : policies) rescales.push_back(with_rescale(best, r));
  std::vector<Match> rescale_matches;
  rescale_index = choose(rescales, p, in, out.o, out.out_dtype, rows, threads, rescale_matches);
  best = rescales[rescale_index];
  const bool rescale_seen = decided(rescale_matches, rescale_index, [](size_t) { return true; }, rows, elements);
  card.block_n = tile_seen ? best.block_n : 0;
  card.order = order_seen ? (best.order == KvBlockOrder::forward ? "forward" : "reverse") : "?";
  card.num_splits = splits_seen ? best.num_splits : 0;
  card.rescale = rescale_seen ? policies[rescale_index].name : "?";
  card.combine = best.num_splits > 1 && splits_seen
                     ? (best.numeric_bug == Mutant::base2_lse_natural_combine ? "base-2 LSE read as natural" : "base-2 LSE")
                     : "n/a";
  std::ostringstream note;
  note << "call 3 (structure, " << kStructureKeys << " keys, maxima climbing / jumping / falling / spread): "
       << best.describe() << " (" << match_note(rescale_matches[rescale_index], elements) << ")";
  if (!tile_seen || !order_seen || !splits_seen || !rescale_seen) {
    note << "; not separated on this input:";
    if (!tile_seen) note << " tile width";
    if (!order_seen) note << " order";
    if (!splits_seen) note << " splits";
    if (!rescale_seen) note << " rescale";
  }
  result.notes.push_back(note.str());
}

}  // namespace

std::string ProbeCard::to_string() const {
  std::ostringstream s;
  auto sep = [&]() -> std::ostringstream& {
    if (s.tellp() > 0) s << ", ";
    return s;
  };
  if (softmax == "two-pass") {
    sep() << "two-pass softmax";
    if (scores != "fp32" || !scale_fold.empty())
      sep() << "scores " << scores << (scale_fold.empty() ? "" : " (scale on " + scale_fold + ")");
    sep() << "softmax output " << p_format << " before PV";
  } else {
    if (block_n > 0) sep() << "block_n " << block_n;
    else sep() << "block_n not observable";
    if (order == "forward" || order == "reverse") sep() << order << " order";
    if (num_splits > 1) sep() << "split-KV " << num_splits << " (of " << kStructureKeys << " keys, " << combine << ")";
    if (scores != "fp32") sep() << "scores " << scores;
    sep() << "P " << p_format << " before PV";
  }
  std::string acc = accumulator;
  if (acc == "fp32") sep() << "FP32 accumulators";
  else sep() << acc << " accumulators";
  if (softmax != "two-pass") sep() << "rescale " << rescale;
  sep() << mask << " mask";
  if (key_delta < 0) sep() << "newest key not read";
  if (leak_tile > 0) sep() << "keys padded to " << leak_tile << " leak";
  if (leak_tile < 0) sep() << "padded keys leak";
  if (gqa == "declined") sep() << "GQA declined (probed with H_q == H_kv)";
  else sep() << gqa << " GQA";
  return s.str();
}

ProbeResult probe_kernel(const Kernel& kernel, const ProbeOptions& options) {
  ProbeResult result;
  bool found = false;
  bool gqa = true;
  // The first dtype and head dim the kernel accepts, with grouped heads if it takes them.
  for (bool grouped : {true, false}) {
    for (DType dtype : {DType::fp16, DType::bf16}) {
      for (int64_t D : {64, 128, 32}) {
        if (accepts(kernel, semantics_problem(dtype, D, grouped)) && accepts(kernel, unmasked_problem(dtype, D, 16, 16)) &&
            accepts(kernel, unmasked_problem(dtype, D, kStructureQueries, kStructureKeys))) {
          result.dtype = dtype;
          result.head_dim = D;
          gqa = grouped;
          found = true;
          break;
        }
      }
      if (found) break;
    }
    if (found) break;
  }
  if (!found)
    throw ProblemError("probe: kernel " + kernel.info.name +
                       " accepts none of the probe problems (FP16/BF16, D 64/128/32, S up to 512, H 4:2 or 4:4)");
  probe_semantics(kernel, result.dtype, result.head_dim, gqa, result);
  const PrecisionHypothesis base = probe_precision(kernel, result.dtype, result.head_dim, result, options.threads);
  probe_structure(kernel, result.dtype, result.head_dim, base, result, options.threads);
  return result;
}

std::optional<ProbeCard> card_from_traits(const KernelInfo& info) {
  auto trait = [&](const char* key) {
    auto it = info.traits.find(key);
    return it == info.traits.end() ? std::string() : it->second;
  };
  // FP8 operands (Q, K, V quantized to E4M3 before the products): the card's experiments assume
  // 16-bit inputs reach the products unchanged, so no card is defined for them.
  if (!trait("fp8_scaling").empty()) return std::nullopt;
  ProbeCard card;
  card.mask = "bottom-right";
  card.gqa = "contiguous";
  card.scores = "fp32";
  card.accumulator = "fp32";
  // Emulator configurations and the CUDA prefill variants (and their mutants) share the FA2
  // traits: dtype, block_n, p_cast, order (kv_order on the GPU), num_splits, the lazy threshold.
  if (info.family == "emulator" || info.family == "mutant" || info.family == "cuda") {
    if (trait("block_n").empty() || trait("dtype").empty() || trait("p_cast").empty()) return std::nullopt;
    const std::string mutant = trait("mutant");
    const std::string order = trait("order").empty() ? trait("kv_order") : trait("order");
    const double threshold = trait("rescale_threshold_log2").empty() ? 0.0 : std::stod(trait("rescale_threshold_log2"));
    const int block = std::stoi(trait("block_n"));
    const int splits = trait("num_splits").empty() ? 1 : std::stoi(trait("num_splits"));
    card.softmax = "online";
    // hi + lo: P to ~22 bits; "none (P stays FP32)": the decode kernels' configurations.
    card.p_format = trait("p_cast") == "split_hi_lo" || trait("p_cast").rfind("none", 0) == 0 ? "fp32" : trait("dtype");
    if (mutant == "top-left-cache") card.mask = "top-left";
    if (mutant == "stale-seqlens") card.key_delta = -1;
    if (mutant == "unmasked-tile-edges") card.leak_tile = block;
    if (mutant == "interleaved-gqa-cache") card.gqa = "interleaved";
    // With P kept to FP32 level and FP32 accumulators, tiles, order, splits and the rescale make
    // FP32-level differences only: not observable in a 16-bit output.
    const bool structure_visible = card.p_format != "fp32";
    card.block_n = structure_visible ? block : 0;
    card.order = structure_visible ? order : "?";
    card.num_splits = structure_visible ? splits : 0;
    card.rescale = !structure_visible ? "?"
                   : mutant == "p-cast-before-max" ? "never (P before the final max)"
                   : mutant == "rescale-fp16"      ? "alpha fp16"
                   : threshold > 0                 ? "lazy " + std::to_string(static_cast<int>(threshold))
                                                   : "every tile";
    card.combine = splits > 1 && structure_visible
                       ? (mutant == "base2-lse-combine" ? "base-2 LSE read as natural" : "base-2 LSE")
                       : "n/a";
    // A decode configuration's combine bug is semantic: visible whatever P's precision. Its
    // splits: "fixed:N" keys each, over call 3's kStructureKeys.
    const std::string split = trait("split");
    if (mutant == "base2-lse-combine" && !structure_visible && split.rfind("fixed:", 0) == 0) {
      card.num_splits = static_cast<int>(kStructureKeys / std::stoi(split.substr(6)));
      card.combine = "base-2 LSE read as natural";
    }
    return card;
  }
  if (info.family == "reference" && trait("softmax").find("two-pass") != std::string::npos) {
    card.softmax = "two-pass";
    const std::string softmax = trait("softmax"), scores = trait("scores"), scale = trait("scale");
    for (const char* f : {"fp16", "bf16"}) {
      if (softmax.find(std::string("P rounded to ") + f) != std::string::npos) card.p_format = f;
      if (scores.find(std::string("rounded to ") + f) != std::string::npos) card.scores = f;
    }
    if (card.p_format == "?") card.p_format = "fp32";
    if (scale.find("applied to q") != std::string::npos) card.scale_fold = "q";
    return card;
  }
  return std::nullopt;
}

}  // namespace attn
