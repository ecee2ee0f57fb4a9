#include "bench/study_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <set>
#include <vector>

namespace gdaqd::bench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> DropNaN(const std::vector<double>& values) {
  std::vector<double> kept;
  for (double v : values) {
    if (!std::isnan(v)) kept.push_back(v);
  }
  return kept;
}

// Twice the mid-rank (1-based) of every value of `pooled`, in pooled's order: integers, so that
// rank sums can be counted exactly.
std::vector<int64_t> DoubledMidRanks(const std::vector<double>& pooled) {
  std::vector<size_t> order(pooled.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pooled[a] < pooled[b]; });
  std::vector<int64_t> ranks(pooled.size());
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    while (j + 1 < order.size() && pooled[order[j + 1]] == pooled[order[i]]) ++j;
    // Positions i..j (0-based) share the mean of ranks i+1..j+1; doubled: i + j + 2.
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = static_cast<int64_t>(i + j + 2);
    i = j + 1;
  }
  return ranks;
}

// Exact two-sided p: counts, for every doubled rank sum, the subsets of `ranks` of size n.
// `observed_distance` is |2U - nm| of the observed sample.
double ExactP(const std::vector<int64_t>& ranks, int n, int64_t observed_distance) {
  const int total = static_cast<int>(ranks.size());
  int64_t max_sum = 0;
  for (int64_t r : ranks) max_sum += r;
  // ways[k][s]: subsets of size k of the ranks seen so far with doubled rank sum s.
  std::vector<std::vector<uint64_t>> ways(n + 1, std::vector<uint64_t>(max_sum + 1, 0));
  ways[0][0] = 1;
  for (int64_t r : ranks) {
    for (int k = n; k >= 1; --k) {
      for (int64_t s = max_sum; s >= r; --s) ways[k][s] += ways[k - 1][s - r];
    }
  }
  const int64_t m = total - n;
  const int64_t offset = static_cast<int64_t>(n) * (n + 1);  // doubled n(n+1)/2
  uint64_t extreme = 0, all = 0;
  for (int64_t s = 0; s <= max_sum; ++s) {
    if (ways[n][s] == 0) continue;
    all += ways[n][s];
    // 2U = s - n(n+1), and |2U - nm| = 2 |U - nm/2|: the units of observed_distance.
    const int64_t doubled_u = s - offset;
    if (std::llabs(doubled_u - n * m) >= observed_distance) extreme += ways[n][s];
  }
  return static_cast<double>(extreme) / static_cast<double>(all);
}

// Normal approximation with the tie correction (no continuity correction).
double NormalP(const std::vector<int64_t>& ranks, int n, double u) {
  const double n1 = n, n2 = static_cast<double>(ranks.size()) - n, total = n1 + n2;
  std::vector<int64_t> sorted = ranks;
  std::sort(sorted.begin(), sorted.end());
  double tie_term = 0;
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  const double variance = n1 * n2 / 12.0 * ((total + 1) - tie_term / (total * (total - 1)));
  if (variance <= 0) return 1.0;
  const double z = std::fabs(u - n1 * n2 / 2) / std::sqrt(variance);
  return std::erfc(z / std::sqrt(2.0));
}

}  // namespace

double Quantile(std::vector<double> values, double q) {
  values = DropNaN(values);
  if (values.empty()) return kNaN;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double fraction = pos - static_cast<double>(lo);
  // Equal neighbours (two +inf among them) and exact positions need no interpolation, which
  // would give inf - inf = NaN.
  if (fraction == 0 || values[lo] == values[hi]) return values[lo];
  return values[lo] + fraction * (values[hi] - values[lo]);
}

TargetHit EvaluationsToTarget(const std::vector<Point>& history, double target, double budget) {
  if (!std::isnan(target)) {
    for (const Point& point : history) {
      if (point.y >= target) return {point.x, false};
    }
  }
  return {budget, true};
}

double RankValue(const TargetHit& hit) { return hit.censored ? kInf : hit.evaluations; }

double ValueAt(const std::vector<Point>& history, double at) {
  double value = kNaN;
  for (const Point& point : history) {
    if (point.x > at) break;
    value = point.y;
  }
  return value;
}

MannWhitney MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y) {
  const std::vector<double> a = DropNaN(x), b = DropNaN(y);
  MannWhitney result;
  if (a.empty() || b.empty()) {
    result.p = kNaN;
    return result;
  }
  std::vector<double> pooled = a;
  pooled.insert(pooled.end(), b.begin(), b.end());
  const std::vector<int64_t> ranks = DoubledMidRanks(pooled);
  const int n = static_cast<int>(a.size());
  const int64_t m = static_cast<int64_t>(b.size());
  int64_t doubled_rank_sum = 0;
  for (int i = 0; i < n; ++i) doubled_rank_sum += ranks[i];
  const int64_t doubled_u = doubled_rank_sum - static_cast<int64_t>(n) * (n + 1);
  result.u = static_cast<double>(doubled_u) / 2;
  if (static_cast<int>(pooled.size()) <= kMaxExactMannWhitney) {
    result.p = ExactP(ranks, n, std::llabs(doubled_u - n * m));
  } else {
    result.exact = false;
    result.p = NormalP(ranks, n, result.u);
  }
  return result;
}

Curve Aggregate(const std::vector<std::vector<Point>>& histories) {
  Curve curve;
  std::set<double> xs;
  double start = -kInf;
  for (const std::vector<Point>& history : histories) {
    for (const Point& point : history) xs.insert(point.x);
    start = std::max(start, history.front().x);
  }
  for (double x : xs) {
    if (x < start) continue;
    std::vector<double> values;
    for (const std::vector<Point>& history : histories) {
      const double v = ValueAt(history, x);
      if (std::isfinite(v)) values.push_back(v);
    }
    if (values.empty()) continue;
    curve.x.push_back(x);
    curve.median.push_back(Quantile(values, 0.5));
    curve.q1.push_back(Quantile(values, 0.25));
    curve.q3.push_back(Quantile(values, 0.75));
  }
  return curve;
}

MedianMinMax MedianMinMaxOf(const std::vector<double>& values) {
  MedianMinMax result{Quantile(values, 0.5), kNaN, kNaN};
  for (double v : values) {
    if (std::isnan(v)) continue;
    result.min = std::isnan(result.min) ? v : std::min(result.min, v);
    result.max = std::isnan(result.max) ? v : std::max(result.max, v);
  }
  return result;
}

}  // namespace gdaqd::bench
