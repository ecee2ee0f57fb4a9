#include "server/archive/cvt_archive.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "server/archive/archive.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {
namespace {

// Squared Euclidean distance between two dim-vectors.
template <typename A, typename B>
double SquaredDistance(const A* a, const B* b, size_t dim) {
  double sum = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    const double diff = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    sum += diff * diff;
  }
  return sum;
}

// num_samples uniform points in the box, [num_samples, dim] row-major.
std::vector<double> SampleBox(const CvtSpec& spec, std::mt19937_64& rng) {
  const size_t dim = spec.low.size();
  std::vector<double> samples(static_cast<size_t>(spec.num_samples) * dim);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (size_t i = 0; i < samples.size(); ++i) {
    const double lo = spec.low[i % dim];
    samples[i] = lo + unit(rng) * (static_cast<double>(spec.high[i % dim]) - lo);
  }
  return samples;
}

// k-means++ seeding (Arthur & Vassilvitskii 2007): each new centroid is a sample drawn
// with probability proportional to its squared distance to the nearest chosen centroid.
std::vector<double> KMeansPlusPlus(const std::vector<double>& samples, size_t dim, size_t k,
                                   std::mt19937_64& rng) {
  const size_t n = samples.size() / dim;
  std::vector<double> centroids(k * dim);
  std::vector<double> min_d2(n, std::numeric_limits<double>::infinity());
  size_t chosen = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  for (size_t c = 0; c < k; ++c) {
    if (c > 0) {
      double total = 0.0;
      for (double d2 : min_d2) total += d2;
      const double u = std::uniform_real_distribution<double>(0.0, total)(rng);
      // Falls back to the last sample with positive weight if rounding leaves u >= the sum.
      double cumulative = 0.0;
      for (size_t i = 0; i < n; ++i) {
        if (min_d2[i] <= 0.0) continue;
        chosen = i;
        cumulative += min_d2[i];
        if (cumulative > u) break;
      }
    }
    std::copy_n(samples.data() + chosen * dim, dim, centroids.data() + c * dim);
    for (size_t i = 0; i < n; ++i) {
      min_d2[i] = std::min(min_d2[i], SquaredDistance(&samples[i * dim], &centroids[c * dim], dim));
    }
  }
  return centroids;
}

// s[c] = half the distance from centroid c to its nearest other centroid (inf if k == 1).
// A sample within s[c] of centroid c is certainly nearest to c (triangle inequality).
void HalfGaps(const std::vector<double>& centroids, size_t dim, std::vector<double>& half_gap) {
  const size_t k = half_gap.size();
  std::fill(half_gap.begin(), half_gap.end(), std::numeric_limits<double>::infinity());
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = a + 1; b < k; ++b) {
      const double half =
          0.5 * std::sqrt(SquaredDistance(&centroids[a * dim], &centroids[b * dim], dim));
      half_gap[a] = std::min(half_gap[a], half);
      half_gap[b] = std::min(half_gap[b], half);
    }
  }
}

// Moves each centroid to the mean of its samples (an empty cluster keeps its centroid);
// sets moved[c] to the distance centroid c moved and returns the summed squared moves.
double UpdateCentroids(const std::vector<double>& samples, const std::vector<size_t>& assignment,
                       size_t dim, std::vector<double>& centroids, std::vector<double>& moved) {
  const size_t k = centroids.size() / dim;
  std::vector<double> sums(centroids.size(), 0.0);
  std::vector<size_t> counts(k, 0);
  for (size_t i = 0; i < assignment.size(); ++i) {
    ++counts[assignment[i]];
    for (size_t j = 0; j < dim; ++j) sums[assignment[i] * dim + j] += samples[i * dim + j];
  }
  double shift2 = 0.0;
  for (size_t c = 0; c < k; ++c) {
    double shift2_c = 0.0;
    for (size_t j = 0; counts[c] > 0 && j < dim; ++j) {
      const double mean = sums[c * dim + j] / static_cast<double>(counts[c]);
      shift2_c += (mean - centroids[c * dim + j]) * (mean - centroids[c * dim + j]);
      centroids[c * dim + j] = mean;
    }
    moved[c] = std::sqrt(shift2_c);
    shift2 += shift2_c;
  }
  return shift2;
}

// Per-sample distance bounds of Hamerly's algorithm (SDM 2010). Invariants: upper[i] >=
// distance to the assigned centroid; lower[i] <= distance to every other centroid.
struct HamerlyBounds {
  std::vector<size_t> assignment;
  std::vector<double> upper;
  std::vector<double> lower;
};

// Assigns every sample to its nearest centroid, rescanning all k centroids only for samples
// whose bounds cannot prove the current assignment; returns whether any assignment changed.
bool AssignSamples(const std::vector<double>& samples, const std::vector<double>& centroids,
                   const std::vector<double>& half_gap, size_t dim, HamerlyBounds& b) {
  const size_t k = half_gap.size();
  bool changed = false;
  for (size_t i = 0; i < b.assignment.size(); ++i) {
    const double bound = std::max(half_gap[b.assignment[i]], b.lower[i]);
    if (b.upper[i] <= bound) continue;
    const double* x = &samples[i * dim];
    b.upper[i] = std::sqrt(SquaredDistance(x, &centroids[b.assignment[i] * dim], dim));
    if (b.upper[i] <= bound) continue;
    size_t best = 0;
    double best_d2 = std::numeric_limits<double>::infinity();
    double second_d2 = best_d2;
    for (size_t c = 0; c < k; ++c) {
      const double d2 = SquaredDistance(x, &centroids[c * dim], dim);
      if (d2 < best_d2) {
        second_d2 = best_d2;
        best_d2 = d2;
        best = c;
      } else if (d2 < second_d2) {
        second_d2 = d2;
      }
    }
    changed |= best != b.assignment[i];
    b.assignment[i] = best;
    b.upper[i] = std::sqrt(best_d2);
    b.lower[i] = std::sqrt(second_d2);
  }
  return changed;
}

// Keeps the bounds valid after centroid c moved by moved[c].
void LoosenBounds(const std::vector<double>& moved, HamerlyBounds& b) {
  const size_t fastest =
      static_cast<size_t>(std::max_element(moved.begin(), moved.end()) - moved.begin());
  double second_fastest = 0.0;
  for (size_t c = 0; c < moved.size(); ++c) {
    if (c != fastest) second_fastest = std::max(second_fastest, moved[c]);
  }
  for (size_t i = 0; i < b.assignment.size(); ++i) {
    b.upper[i] += moved[b.assignment[i]];
    b.lower[i] -= b.assignment[i] == fastest ? second_fastest : moved[fastest];
  }
}

// k-means++ then Lloyd on uniform box samples; returns float centroids clamped to the box.
std::vector<float> ComputeCvtCentroids(const CvtSpec& spec) {
  const size_t dim = spec.low.size();
  std::mt19937_64 rng(spec.seed);
  const std::vector<double> samples = SampleBox(spec, rng);
  std::vector<double> centroids =
      KMeansPlusPlus(samples, dim, static_cast<size_t>(spec.num_centroids), rng);
  // Variance of U(low, high) is range^2 / 12; the threshold uses its mean over dimensions.
  double mean_variance = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    const double range = static_cast<double>(spec.high[j]) - spec.low[j];
    mean_variance += range * range / 12.0 / static_cast<double>(dim);
  }
  // Lloyd's algorithm; Hamerly's bounds give the same assignments as a brute-force scan.
  const size_t n = samples.size() / dim;
  const auto k = static_cast<size_t>(spec.num_centroids);
  HamerlyBounds bounds{.assignment = std::vector<size_t>(n, 0),
                       .upper = std::vector<double>(n, std::numeric_limits<double>::infinity()),
                       .lower = std::vector<double>(n, 0.0)};
  std::vector<double> half_gap(k);
  std::vector<double> moved(k);
  for (int iteration = 0; iteration < spec.max_iterations; ++iteration) {
    HalfGaps(centroids, dim, half_gap);
    const bool changed = AssignSamples(samples, centroids, half_gap, dim, bounds);
    if (!changed && iteration > 0) break;
    const double shift2 = UpdateCentroids(samples, bounds.assignment, dim, centroids, moved);
    if (shift2 <= CvtArchive::kRelativeTolerance * mean_variance) break;
    LoosenBounds(moved, bounds);
  }
  std::vector<float> result(centroids.size());
  for (size_t i = 0; i < centroids.size(); ++i) {
    result[i] = std::clamp(static_cast<float>(centroids[i]), spec.low[i % dim], spec.high[i % dim]);
  }
  return result;
}

absl::Status ValidateCvtSpec(const CvtSpec& spec) {
  if (spec.num_samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_samples = ", spec.num_samples, "; need >= 1"));
  }
  if (spec.num_centroids < 1 || spec.num_centroids > spec.num_samples) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_centroids = ", spec.num_centroids, "; need 1..num_samples (", spec.num_samples, ")"));
  }
  if (spec.max_iterations < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_iterations = ", spec.max_iterations, "; need >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<CvtArchive>> CvtArchive::Create(const CvtSpec& spec) {
  GDAQD_RETURN_IF_ERROR(ValidateBox(spec.low, spec.high));
  GDAQD_RETURN_IF_ERROR(ValidateCvtSpec(spec));
  GDAQD_RETURN_IF_ERROR(ValidateStorage(spec.num_centroids, spec.num_params));
  return absl::WrapUnique(
      new CvtArchive(spec.low, spec.high, ComputeCvtCentroids(spec), spec.num_params));
}

absl::StatusOr<std::unique_ptr<CvtArchive>> CvtArchive::FromCentroids(
    absl::Span<const float> low, absl::Span<const float> high, absl::Span<const float> centroids,
    int64_t num_params) {
  GDAQD_RETURN_IF_ERROR(ValidateBox(low, high));
  const size_t dim = low.size();
  if (centroids.empty() || centroids.size() % dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "centroids has ", centroids.size(), " values; need a positive multiple of dim ", dim));
  }
  for (size_t i = 0; i < centroids.size(); ++i) {
    const size_t j = i % dim;
    if (!(centroids[i] >= low[j] && centroids[i] <= high[j])) {  // also rejects NaN
      return absl::InvalidArgumentError(absl::StrCat("centroid ", i / dim, " dim ", j, " = ",
                                                     centroids[i], "; need a value in [", low[j],
                                                     ", ", high[j], "]"));
    }
  }
  const auto num_cells = static_cast<int64_t>(centroids.size() / dim);
  GDAQD_RETURN_IF_ERROR(ValidateStorage(num_cells, num_params));
  return absl::WrapUnique(new CvtArchive(
      std::vector<float>(low.begin(), low.end()), std::vector<float>(high.begin(), high.end()),
      std::vector<float>(centroids.begin(), centroids.end()), num_params));
}

CvtArchive::CvtArchive(std::vector<float> low, std::vector<float> high,
                       std::vector<float> centroids, int64_t num_params)
    : DenseArchive(std::move(low), std::move(high), std::move(centroids), num_params) {}

std::unique_ptr<ArchiveInterface> CvtArchive::Clone() const {
  return absl::WrapUnique(new CvtArchive(*this));
}

int64_t CvtArchive::MapToCell(absl::Span<const float> descriptor) const {
  // Brute-force nearest centroid; the centroid spans are contiguous rows of one array.
  const size_t dim = descriptor.size();
  int64_t best = 0;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < num_cells(); ++c) {
    const double d2 = SquaredDistance(descriptor.data(), centroid(c).data(), dim);
    if (d2 < best_d2) {
      best_d2 = d2;
      best = c;
    }
  }
  return best;
}

}  // namespace gdaqd::server
