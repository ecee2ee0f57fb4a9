// DenseArchive: structure-of-arrays storage and the insertion rules shared by GridArchive
// and CvtArchive. Subclasses only supply the centroids and the descriptor -> cell map.
#ifndef GDAQD_SERVER_ARCHIVE_ARCHIVE_H_
#define GDAQD_SERVER_ARCHIVE_ARCHIVE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server {

// Largest number of cells an archive may have (fitness, descriptor and centroid storage
// grow linearly with it).
inline constexpr int64_t kMaxArchiveCells = 10'000'000;
// Largest num_cells * num_params (float32 values, i.e. 16 GiB of params storage), so that a
// typo in a config fails validation instead of the allocator.
inline constexpr int64_t kMaxArchiveParamFloats = int64_t{1} << 32;

// Dense MAP-Elites storage, as in QDax: every cell has a slot whether filled or not.
// Empty cells have fitness -inf and zero descriptor/params. Owns all its storage.
// Thread-compatible (see ArchiveInterface).
class DenseArchive : public ArchiveInterface {
 public:
  ~DenseArchive() override = default;
  DenseArchive& operator=(const DenseArchive&) = delete;

  int64_t num_cells() const final { return static_cast<int64_t>(fitnesses_.size()); }
  int descriptor_dim() const final { return static_cast<int>(low_.size()); }
  int64_t num_params() const final { return num_params_; }
  int64_t num_filled() const final { return num_filled_; }
  absl::Span<const float> descriptor_low() const final { return low_; }
  absl::Span<const float> descriptor_high() const final { return high_; }
  absl::Span<const float> centroid(int64_t cell) const final;

  absl::StatusOr<int64_t> CellIndex(absl::Span<const float> descriptor) const final;
  absl::StatusOr<InsertOutcome> Insert(absl::Span<const float> descriptor, float fitness,
                                       absl::Span<const float> params) final;
  absl::StatusOr<std::vector<InsertOutcome>> InsertBatch(absl::Span<const float> descriptors,
                                                         absl::Span<const float> fitnesses,
                                                         absl::Span<const float> params) final;

  bool is_filled(int64_t cell) const final;
  std::optional<EliteView> elite(int64_t cell) const final;
  std::vector<int64_t> filled_cells() const final;
  void Clear() final;

 protected:
  // Takes inputs already checked by ValidateBox/ValidateStorage: `low`, `high` are
  // [dim]; `centroids` is [num_cells, dim] row-major with num_cells >= 1.
  DenseArchive(std::vector<float> low, std::vector<float> high, std::vector<float> centroids,
               int64_t num_params);
  DenseArchive(const DenseArchive&) = default;

  // Maps a descriptor to a cell in [0, num_cells()). Precondition: `descriptor` has
  // descriptor_dim() finite values (checked by the caller).
  virtual int64_t MapToCell(absl::Span<const float> descriptor) const = 0;

  // Returns InvalidArgument unless low and high are non-empty, of equal size, finite, and
  // low[i] < high[i] for every i.
  static absl::Status ValidateBox(absl::Span<const float> low, absl::Span<const float> high);
  // Returns InvalidArgument unless num_params >= 1, 1 <= num_cells <= kMaxArchiveCells and
  // num_cells * num_params <= kMaxArchiveParamFloats.
  static absl::Status ValidateStorage(int64_t num_cells, int64_t num_params);

 private:
  // InvalidArgument unless `descriptor` has descriptor_dim() finite values.
  absl::Status ValidateDescriptor(absl::Span<const float> descriptor) const;
  // ValidateDescriptor plus finite fitness and num_params() params.
  absl::Status ValidateCandidate(absl::Span<const float> descriptor, float fitness,
                                 absl::Span<const float> params) const;
  // Overwrites `cell` with the candidate and updates num_filled_.
  void Store(int64_t cell, absl::Span<const float> descriptor, float fitness,
             absl::Span<const float> params);

  std::vector<float> low_;        // [dim]
  std::vector<float> high_;       // [dim]
  std::vector<float> centroids_;  // [num_cells, dim], immutable after construction
  int64_t num_params_;
  std::vector<float> fitnesses_;    // [num_cells]; -inf marks an empty cell
  std::vector<float> descriptors_;  // [num_cells, dim]; zeros when empty
  std::vector<float> params_;       // [num_cells, num_params]; zeros when empty
  int64_t num_filled_ = 0;          // == count of finite entries in fitnesses_
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ARCHIVE_ARCHIVE_H_
