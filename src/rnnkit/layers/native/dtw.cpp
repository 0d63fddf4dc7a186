// 1-nearest-neighbour search under dynamic time warping, for the classify task's 1-NN DTW baseline
// (rnnkit/baselines/classify.py); not a layer, but it shares this extension's build.
//
// Why C++: the baseline is the standard UCR reference and runs on every numeric-series training
// run; the torch version fills every DP cell of every (test, train) pair with several tensor ops
// per anti-diagonal. Here each query scans the training series with the classic row-by-row DP in
// double precision, restricted to the Sakoe-Chiba band, and abandons a pair as soon as a whole DP
// row exceeds the best distance found so far (the result cannot win any more) — the early
// abandoning of the UCR suite (Rakthanmanon et al. 2012). Queries run in parallel (at::parallel_for).
//
// Contract: a (P, n, F) and b (Q, m, F) double, contiguous, CPU; la (P,), lb (Q,) int64 lengths;
// window < 0 = no band. Local cost: squared Euclidean distance over the F features; the distance of
// a pair is the sum along the best path (no square root), inf when the band admits no path.
// -> (index (P,) int64 of the nearest b (the first one on ties), its distance (P,) double).
#include "common.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

namespace {

using namespace rnnkit_native;
using at::Tensor;

// DTW of x (n, F) and y (m, F) under the band, abandoned (returns inf) once a row's minimum is
// above `cutoff`. prev / cur are scratch rows of m + 1 doubles.
double dtw_pair(const double* x, int64_t n, const double* y, int64_t m, int64_t F, int64_t window, double cutoff,
                double* prev, double* cur) {
  const double inf = std::numeric_limits<double>::infinity();
  if (window >= 0 && std::abs(n - m) > window) return inf;
  std::fill(prev, prev + m + 1, inf);
  prev[0] = 0.0;
  for (int64_t i = 1; i <= n; ++i) {
    const int64_t lo = window >= 0 ? std::max<int64_t>(1, i - window) : 1;
    const int64_t hi = window >= 0 ? std::min<int64_t>(m, i + window) : m;
    std::fill(cur, cur + m + 1, inf);
    const double* xi = x + (i - 1) * F;
    double row_min = inf;
    for (int64_t j = lo; j <= hi; ++j) {
      const double* yj = y + (j - 1) * F;
      double c = 0.0;
      for (int64_t f = 0; f < F; ++f) {
        const double d = xi[f] - yj[f];
        c += d * d;
      }
      const double best = std::min(std::min(prev[j - 1], prev[j]), cur[j - 1]);
      cur[j] = c + best;
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > cutoff) return inf;  // every path through this row already costs more
    std::swap(prev, cur);
  }
  return prev[m];
}

std::tuple<Tensor, Tensor> dtw_nn(const Tensor& a, const Tensor& la, const Tensor& b, const Tensor& lb,
                                  int64_t window) {
  TORCH_CHECK(a.scalar_type() == at::kDouble && b.scalar_type() == at::kDouble, "rnnkit dtw_nn: float64 series");
  check(a, "a", a);
  check(b, "b", a);
  const Tensor lac = la.to(at::kLong).contiguous(), lbc = lb.to(at::kLong).contiguous();
  const int64_t P = a.size(0), n = a.size(1), F = a.size(2), Q = b.size(0), m = b.size(1);
  TORCH_CHECK(b.size(2) == F, "rnnkit dtw_nn: a and b have ", F, " and ", b.size(2), " features");
  Tensor index = at::empty({P}, la.options().dtype(at::kLong));
  Tensor dist = at::empty({P}, a.options());
  const double *ap = a.data_ptr<double>(), *bp = b.data_ptr<double>();
  const int64_t *lap = lac.data_ptr<int64_t>(), *lbp = lbc.data_ptr<int64_t>();
  int64_t* ip = index.data_ptr<int64_t>();
  double* dp = dist.data_ptr<double>();
  at::parallel_for(0, P, 1, [&](int64_t p0, int64_t p1) {
    std::vector<double> rows(2 * (m + 1));
    for (int64_t p = p0; p < p1; ++p) {
      double best = std::numeric_limits<double>::infinity();
      int64_t arg = 0;  // all distances inf (no path in the band): index 0, as argmin gives
      for (int64_t q = 0; q < Q; ++q) {
        const double d = dtw_pair(ap + p * n * F, lap[p], bp + q * m * F, lbp[q], F, window, best, rows.data(),
                                  rows.data() + m + 1);
        if (d < best) {  // strict: the first of equal distances stays (argmin's rule); abandoned pairs are inf
          best = d;
          arg = q;
        }
      }
      dp[p] = best;
      ip[p] = arg;
    }
  });
  return {index, dist};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit_native, m) {
  m.def("dtw_nn(Tensor a, Tensor la, Tensor b, Tensor lb, int window) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit_native, CPU, m) {
  m.impl("dtw_nn", &dtw_nn);
}
