// The statistics of the reproduction study's analysis (docs/reproduction/protocol.md, "Analysis"):
// quantiles over seeds, evaluations to reach a target QD-score with censoring at the budget, the
// exact two-sided Mann-Whitney U test, and a run's value at a given wall time.
//
// Pure functions on plain vectors: no I/O, no state. Thread-safe (they share nothing).
#ifndef GDAQD_BENCH_STUDY_STATS_H_
#define GDAQD_BENCH_STUDY_STATS_H_

#include <cstdint>
#include <vector>

namespace gdaqd::bench {

// The q-quantile (0 <= q <= 1) of `values` with linear interpolation between order statistics
// (numpy's default, "type 7"): Quantile({1, 2, 3, 4}, 0.25) == 1.75. NaNs are ignored; +-inf are
// kept and ordered (so a median over censored values, stored as +inf, is +inf when more than half
// are censored). NaN when no value is left.
double Quantile(std::vector<double> values, double q);

// One point of a run's history: x (real evaluations or wall seconds) and the metric's value.
struct Point {
  double x = 0;
  double y = 0;
};

// When a run first reached a target. `censored` means it never did within its budget; then
// `evaluations` is the budget.
struct TargetHit {
  double evaluations = 0;
  bool censored = false;
};

// The first point of `history` (ascending x = evaluations) whose y >= target. Censored at
// `budget` if none. A NaN target censors every run.
TargetHit EvaluationsToTarget(const std::vector<Point>& history, double target, double budget);

// The value the Mann-Whitney test and the medians rank a hit by: its evaluations, or +inf when
// censored, so that a censored run ranks above every run that reached the target and censored
// runs tie with each other.
double RankValue(const TargetHit& hit);

// The y a run had at x = `at`: the y of the last point with x <= at (its history is a step
// function between points). NaN if `at` is before the first point or `history` is empty.
// `history` must be in ascending x.
double ValueAt(const std::vector<Point>& history, double at);

// Median and quartiles over histories of one metric, at every x of any history from the latest
// first x on (Aggregate()).
struct Curve {
  std::vector<double> x, median, q1, q3;  // same length; x ascending
};

// The curve of `histories` (each in ascending x, none empty): at every x from the largest first x
// on, the Quantile()s 0.5, 0.25 and 0.75 of the histories' ValueAt() there that are finite (an x
// where none is finite is left out). Each history's value between its points is its last
// point's (a step function), so histories whose points fall at different x are all kept.
Curve Aggregate(const std::vector<std::vector<Point>>& histories);

// The median (Quantile 0.5), minimum and maximum of `values`, NaNs ignored; NaN each when no
// value is left.
struct MedianMinMax {
  double median = 0;
  double min = 0;
  double max = 0;
};
MedianMinMax MedianMinMaxOf(const std::vector<double>& values);

// Result of MannWhitneyU().
struct MannWhitney {
  // U of the first sample: pairs (x_i, y_j) with x_i > y_j, plus half the tied pairs. 0 when
  // every x is below every y; n * m when every x is above.
  double u = 0;
  // Two-sided p: the probability under H0 (all (n+m)! orders equally likely) of a U at least as
  // far from n*m/2 as the observed one. Exact when `exact`: the C(n+m, n) assignments of the
  // pooled mid-ranks to the first sample are counted (by rank sum, with integer counts, which is
  // the full enumeration without listing each one); otherwise the normal approximation with the
  // tie correction and no continuity correction.
  double p = 1;
  bool exact = true;
};

// Samples with more than kMaxExactMannWhitney values together use the normal approximation
// (C(60, 30) < 2^64 is the largest count the exact test keeps).
inline constexpr int kMaxExactMannWhitney = 60;

// Two-sided Mann-Whitney U test of `x` against `y`, ties by mid-ranks. NaNs are dropped first;
// +inf values (censored runs) are ranked above every finite value and tie with each other.
// With an empty sample after dropping, u = 0, p = NaN.
MannWhitney MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace gdaqd::bench

#endif  // GDAQD_BENCH_STUDY_STATS_H_
