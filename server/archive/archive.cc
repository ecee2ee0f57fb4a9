#include "server/archive/archive.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {
namespace {

constexpr float kEmptyFitness = -std::numeric_limits<float>::infinity();

// Adds the batch row to a validation error (context is added once, here).
absl::Status PrefixRow(int64_t row, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat("row ", row, ": ", status.message()));
}

}  // namespace

DenseArchive::DenseArchive(std::vector<float> low, std::vector<float> high,
                           std::vector<float> centroids, int64_t num_params)
    : low_(std::move(low)),
      high_(std::move(high)),
      centroids_(std::move(centroids)),
      num_params_(num_params) {
  const size_t num_cells = centroids_.size() / low_.size();
  // QDax layout: every cell has a slot; -inf fitness marks it empty.
  fitnesses_.assign(num_cells, kEmptyFitness);
  descriptors_.assign(centroids_.size(), 0.0f);
  params_.assign(num_cells * static_cast<size_t>(num_params_), 0.0f);
}

absl::Status DenseArchive::ValidateBox(absl::Span<const float> low, absl::Span<const float> high) {
  if (low.empty()) return absl::InvalidArgumentError("low is empty; need >= 1 dimension");
  if (low.size() != high.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("low has ", low.size(), " dims, high has ", high.size()));
  }
  for (size_t i = 0; i < low.size(); ++i) {
    if (!std::isfinite(low[i]) || !std::isfinite(high[i])) {
      return absl::InvalidArgumentError(absl::StrCat("low[", i, "] = ", low[i], ", high[", i,
                                                     "] = ", high[i], "; both must be finite"));
    }
    if (!(low[i] < high[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("low[", i, "] = ", low[i], " must be < high[", i, "] = ", high[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status DenseArchive::ValidateStorage(int64_t num_cells, int64_t num_params) {
  if (num_params < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_params = ", num_params, "; need >= 1"));
  }
  if (num_cells < 1 || num_cells > kMaxArchiveCells) {
    return absl::InvalidArgumentError(
        absl::StrCat("archive would have ", num_cells, " cells; need 1..", kMaxArchiveCells));
  }
  if (num_params > kMaxArchiveParamFloats / num_cells) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_cells (", num_cells, ") x num_params (", num_params,
                     ") exceeds the params storage limit of ", kMaxArchiveParamFloats, " floats"));
  }
  return absl::OkStatus();
}

absl::Span<const float> DenseArchive::centroid(int64_t cell) const {
  // Out-of-range cells are a programmer error (documented precondition).
  assert(cell >= 0 && cell < num_cells());
  const size_t dim = low_.size();
  return absl::MakeConstSpan(centroids_).subspan(static_cast<size_t>(cell) * dim, dim);
}

absl::Status DenseArchive::ValidateDescriptor(absl::Span<const float> descriptor) const {
  if (descriptor.size() != low_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor has ", descriptor.size(), " dims, archive has ", low_.size()));
  }
  for (size_t i = 0; i < descriptor.size(); ++i) {
    if (!std::isfinite(descriptor[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("descriptor[", i, "] = ", descriptor[i], "; expected a finite value"));
    }
  }
  return absl::OkStatus();
}

absl::Status DenseArchive::ValidateCandidate(absl::Span<const float> descriptor, float fitness,
                                             absl::Span<const float> params) const {
  GDAQD_RETURN_IF_ERROR(ValidateDescriptor(descriptor));
  if (!std::isfinite(fitness)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fitness = ", fitness, "; expected a finite value"));
  }
  if (static_cast<int64_t>(params.size()) != num_params_) {
    return absl::InvalidArgumentError(
        absl::StrCat("params has ", params.size(), " values, archive has ", num_params_));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> DenseArchive::CellIndex(absl::Span<const float> descriptor) const {
  GDAQD_RETURN_IF_ERROR(ValidateDescriptor(descriptor));
  return MapToCell(descriptor);
}

void DenseArchive::Store(int64_t cell, absl::Span<const float> descriptor, float fitness,
                         absl::Span<const float> params) {
  const auto c = static_cast<size_t>(cell);
  if (fitnesses_[c] == kEmptyFitness) ++num_filled_;
  fitnesses_[c] = fitness;
  std::copy(descriptor.begin(), descriptor.end(), descriptors_.data() + c * low_.size());
  std::copy(params.begin(), params.end(), params_.data() + c * static_cast<size_t>(num_params_));
}

absl::StatusOr<InsertOutcome> DenseArchive::Insert(absl::Span<const float> descriptor,
                                                   float fitness, absl::Span<const float> params) {
  GDAQD_RETURN_IF_ERROR(ValidateCandidate(descriptor, fitness, params));
  InsertOutcome outcome;
  outcome.cell = MapToCell(descriptor);
  outcome.previous_fitness = fitnesses_[static_cast<size_t>(outcome.cell)];
  if (fitness > outcome.previous_fitness) {
    outcome.status =
        outcome.previous_fitness == kEmptyFitness ? InsertStatus::kNew : InsertStatus::kImproved;
    Store(outcome.cell, descriptor, fitness, params);
  }
  return outcome;
}

absl::StatusOr<std::vector<InsertOutcome>> DenseArchive::InsertBatch(
    absl::Span<const float> descriptors, absl::Span<const float> fitnesses,
    absl::Span<const float> params) {
  const size_t n = fitnesses.size();
  const size_t dim = low_.size();
  const auto p = static_cast<size_t>(num_params_);
  if (descriptors.size() != n * dim || params.size() != n * p) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch of ", n, " fitnesses needs ", n * dim, " descriptor values and ", n * p,
                     " params; got ", descriptors.size(), " and ", params.size()));
  }
  // Pass 1: validate every row and map it to its cell; nothing is written yet.
  std::vector<InsertOutcome> outcomes(n);
  for (size_t row = 0; row < n; ++row) {
    const absl::Span<const float> descriptor = descriptors.subspan(row * dim, dim);
    const absl::Status status =
        ValidateCandidate(descriptor, fitnesses[row], params.subspan(row * p, p));
    if (!status.ok()) return PrefixRow(static_cast<int64_t>(row), status);
    outcomes[row].cell = MapToCell(descriptor);
    outcomes[row].previous_fitness = fitnesses_[static_cast<size_t>(outcomes[row].cell)];
  }
  // Pass 2: per cell, the first row holding the batch maximum (segment max in QDax).
  std::unordered_map<int64_t, size_t> best_row;
  best_row.reserve(n);
  for (size_t row = 0; row < n; ++row) {
    auto [it, inserted] = best_row.try_emplace(outcomes[row].cell, row);
    if (!inserted && fitnesses[row] > fitnesses[it->second]) it->second = row;
  }
  // Pass 3: each winner must strictly beat the incumbent.
  for (const auto& [cell, row] : best_row) {
    InsertOutcome& outcome = outcomes[row];
    if (!(fitnesses[row] > outcome.previous_fitness)) continue;
    outcome.status =
        outcome.previous_fitness == kEmptyFitness ? InsertStatus::kNew : InsertStatus::kImproved;
    Store(cell, descriptors.subspan(row * dim, dim), fitnesses[row], params.subspan(row * p, p));
  }
  return outcomes;
}

bool DenseArchive::is_filled(int64_t cell) const {
  return cell >= 0 && cell < num_cells() && fitnesses_[static_cast<size_t>(cell)] != kEmptyFitness;
}

std::optional<EliteView> DenseArchive::elite(int64_t cell) const {
  if (!is_filled(cell)) return std::nullopt;
  const auto c = static_cast<size_t>(cell);
  const size_t dim = low_.size();
  const auto p = static_cast<size_t>(num_params_);
  return EliteView{.cell = cell,
                   .fitness = fitnesses_[c],
                   .descriptor = absl::MakeConstSpan(descriptors_).subspan(c * dim, dim),
                   .params = absl::MakeConstSpan(params_).subspan(c * p, p)};
}

std::vector<int64_t> DenseArchive::filled_cells() const {
  std::vector<int64_t> cells;
  cells.reserve(static_cast<size_t>(num_filled_));
  for (size_t c = 0; c < fitnesses_.size(); ++c) {
    if (fitnesses_[c] != kEmptyFitness) cells.push_back(static_cast<int64_t>(c));
  }
  return cells;
}

void DenseArchive::Clear() {
  std::fill(fitnesses_.begin(), fitnesses_.end(), kEmptyFitness);
  std::fill(descriptors_.begin(), descriptors_.end(), 0.0f);
  std::fill(params_.begin(), params_.end(), 0.0f);
  num_filled_ = 0;
}

}  // namespace gdaqd::server
