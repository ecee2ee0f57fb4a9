#include "server/archive/cvt_archive.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
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

// True once `cancel` (may be null) is set. Loops whose iterations cost O(dim) poll it every
// kPollPeriod iterations; loops whose iterations cost O(k * dim) poll it every iteration (or
// every kRescanPollPeriod samples), so an interrupt is seen within milliseconds.
constexpr size_t kPollPeriod = 1024;
constexpr size_t kRescanPollPeriod = 64;
bool IsCancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

absl::Status Interrupted() { return absl::CancelledError("CVT construction interrupted"); }

// Sets *samples to num_samples uniform points in the box, [num_samples, dim] row-major.
// Returns false if cancelled.
bool SampleBox(const CvtSpec& spec, std::mt19937_64& rng, std::vector<double>& samples) {
  const size_t dim = spec.low.size();
  samples.resize(static_cast<size_t>(spec.num_samples) * dim);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i % kPollPeriod == 0 && IsCancelled(spec.cancel)) return false;
    const double lo = spec.low[i % dim];
    samples[i] = lo + unit(rng) * (static_cast<double>(spec.high[i % dim]) - lo);
  }
  return true;
}

// k-means++ seeding (Arthur & Vassilvitskii 2007): each new centroid is a sample drawn
// with probability proportional to its squared distance to the nearest chosen centroid.
// Sets *centroids to [k, dim]; returns false if cancelled.
bool KMeansPlusPlus(const std::vector<double>& samples, size_t dim, size_t k, std::mt19937_64& rng,
                    const std::atomic<bool>* cancel, std::vector<double>& centroids) {
  const size_t n = samples.size() / dim;
  centroids.assign(k * dim, 0.0);
  std::vector<double> min_d2(n, std::numeric_limits<double>::infinity());
  size_t chosen = std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  for (size_t c = 0; c < k; ++c) {
    if (IsCancelled(cancel)) return false;
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
      if (i % kPollPeriod == 0 && IsCancelled(cancel)) return false;
      min_d2[i] = std::min(min_d2[i], SquaredDistance(&samples[i * dim], &centroids[c * dim], dim));
    }
  }
  return true;
}

// s[c] = half the distance from centroid c to its nearest other centroid (inf if k == 1).
// A sample within s[c] of centroid c is certainly nearest to c (triangle inequality).
// O(k^2 * dim): polls once per centroid. Returns false if cancelled.
bool HalfGaps(const std::vector<double>& centroids, size_t dim, const std::atomic<bool>* cancel,
              std::vector<double>& half_gap) {
  const size_t k = half_gap.size();
  std::fill(half_gap.begin(), half_gap.end(), std::numeric_limits<double>::infinity());
  for (size_t a = 0; a < k; ++a) {
    if (IsCancelled(cancel)) return false;
    for (size_t b = a + 1; b < k; ++b) {
      const double half =
          0.5 * std::sqrt(SquaredDistance(&centroids[a * dim], &centroids[b * dim], dim));
      half_gap[a] = std::min(half_gap[a], half);
      half_gap[b] = std::min(half_gap[b], half);
    }
  }
  return true;
}

// Moves each centroid to the mean of its samples (an empty cluster keeps its centroid);
// sets moved[c] to the distance centroid c moved and returns the summed squared moves, or
// nothing if cancelled.
std::optional<double> UpdateCentroids(const std::vector<double>& samples,
                                      const std::vector<size_t>& assignment, size_t dim,
                                      const std::atomic<bool>* cancel,
                                      std::vector<double>& centroids, std::vector<double>& moved) {
  const size_t k = centroids.size() / dim;
  std::vector<double> sums(centroids.size(), 0.0);
  std::vector<size_t> counts(k, 0);
  for (size_t i = 0; i < assignment.size(); ++i) {
    if (i % kPollPeriod == 0 && IsCancelled(cancel)) return std::nullopt;
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
// whose bounds cannot prove the current assignment; sets *changed to whether any assignment
// changed. Returns false if cancelled (the bounds stay valid).
bool AssignSamples(const std::vector<double>& samples, const std::vector<double>& centroids,
                   const std::vector<double>& half_gap, size_t dim, const std::atomic<bool>* cancel,
                   HamerlyBounds& b, bool* changed) {
  const size_t k = half_gap.size();
  *changed = false;
  for (size_t i = 0; i < b.assignment.size(); ++i) {
    if (i % kRescanPollPeriod == 0 && IsCancelled(cancel)) return false;
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
    *changed |= best != b.assignment[i];
    b.assignment[i] = best;
    b.upper[i] = std::sqrt(best_d2);
    b.lower[i] = std::sqrt(second_d2);
  }
  return true;
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

// Lloyd's algorithm from the seeded centroids (in place); Hamerly's bounds give the same
// assignments as a brute-force scan. Cancelled if spec.cancel is set.
absl::Status Lloyd(const CvtSpec& spec, const std::vector<double>& samples,
                   std::vector<double>& centroids) {
  const size_t dim = spec.low.size();
  // Variance of U(low, high) is range^2 / 12; the threshold uses its mean over dimensions.
  double mean_variance = 0.0;
  for (size_t j = 0; j < dim; ++j) {
    const double range = static_cast<double>(spec.high[j]) - spec.low[j];
    mean_variance += range * range / 12.0 / static_cast<double>(dim);
  }
  const size_t n = samples.size() / dim;
  const auto k = static_cast<size_t>(spec.num_centroids);
  HamerlyBounds bounds{.assignment = std::vector<size_t>(n, 0),
                       .upper = std::vector<double>(n, std::numeric_limits<double>::infinity()),
                       .lower = std::vector<double>(n, 0.0)};
  std::vector<double> half_gap(k);
  std::vector<double> moved(k);
  for (int iteration = 0; iteration < spec.max_iterations; ++iteration) {
    if (!HalfGaps(centroids, dim, spec.cancel, half_gap)) return Interrupted();
    bool changed = false;
    if (!AssignSamples(samples, centroids, half_gap, dim, spec.cancel, bounds, &changed)) {
      return Interrupted();
    }
    if (!changed && iteration > 0) break;
    const std::optional<double> shift2 =
        UpdateCentroids(samples, bounds.assignment, dim, spec.cancel, centroids, moved);
    if (!shift2.has_value()) return Interrupted();
    if (*shift2 <= CvtArchive::kRelativeTolerance * mean_variance) break;
    LoosenBounds(moved, bounds);
  }
  return absl::OkStatus();
}

// k-means++ then Lloyd on uniform box samples; returns float centroids clamped to the box.
// Cancelled if spec.cancel is set; throws std::bad_alloc if the samples do not fit in memory.
absl::StatusOr<std::vector<float>> ComputeCvtCentroids(const CvtSpec& spec) {
  const size_t dim = spec.low.size();
  std::mt19937_64 rng(spec.seed);
  std::vector<double> samples;
  std::vector<double> centroids;
  if (!SampleBox(spec, rng, samples) ||
      !KMeansPlusPlus(samples, dim, static_cast<size_t>(spec.num_centroids), rng, spec.cancel,
                      centroids)) {
    return Interrupted();
  }
  GDAQD_RETURN_IF_ERROR(Lloyd(spec, samples, centroids));
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
  const std::string what = absl::StrCat("building a CVT archive of ", spec.num_centroids,
                                        " cells from ", spec.num_samples, " samples");
  // num_samples x dim doubles must be addressable (else the size_t product would wrap).
  if (static_cast<uint64_t>(spec.num_samples) >
      std::vector<double>().max_size() / spec.low.size()) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", what));
  }
  // Our code throws nothing; the allocations below may (std::bad_alloc, std::length_error).
  try {
    GDAQD_ASSIGN_OR_RETURN(std::vector<float> centroids, ComputeCvtCentroids(spec));
    return absl::WrapUnique(
        new CvtArchive(spec.low, spec.high, std::move(centroids), spec.num_params));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", what));
  } catch (const std::length_error&) {
    return absl::ResourceExhaustedError(absl::StrCat("out of memory while ", what));
  }
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
