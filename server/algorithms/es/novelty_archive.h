// The novelty archive of NS-ES, NSR-ES, NSRA-ES (Conti et al. 2018) and ME-ES (Colas et al.
// 2020): behaviour descriptors of past offspring, and the novelty of a descriptor against them.
#ifndef GDAQD_SERVER_ALGORITHMS_ES_NOVELTY_ARCHIVE_H_
#define GDAQD_SERVER_ALGORITHMS_ES_NOVELTY_ARCHIVE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace gdaqd::server::es {

// Holds at most `capacity` descriptors of `dim` floats. Size policy: first in, first out; once
// full, each Add() overwrites the oldest descriptor ([M]'s sequential archive, which never wraps
// because its capacity is the number of generations; ours is bounded for long runs).
// Thread-compatible: const methods may run concurrently, Add/Restore need exclusive access.
class NoveltyArchive {
 public:
  // Preconditions: dim >= 1, capacity >= 1.
  NoveltyArchive(int dim, int64_t capacity);

  // Appends a descriptor of dim() values (precondition), overwriting the oldest when full.
  void Add(absl::Span<const float> descriptor);

  // Novelty of `descriptor` (dim() values): the mean Euclidean distance to its k nearest
  // descriptors in the archive (Conti et al. 2018, [U] nses.py, [M]). With fewer than k stored,
  // the mean over all of them; 0 for an empty archive. Duplicates count as separate neighbours
  // (a stored copy of `descriptor` contributes distance 0). Precondition: k >= 1.
  double Novelty(absl::Span<const float> descriptor, int k) const;

  int dim() const { return dim_; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }

  // The stored descriptors [size, dim], oldest first.
  std::vector<float> Ordered() const;
  // Replaces the contents with `ordered` ([n, dim], oldest first), as Ordered() gave them.
  // InvalidArgument if the size is not a multiple of dim() or n > capacity().
  absl::Status Restore(absl::Span<const float> ordered);

 private:
  int dim_;
  int64_t capacity_;
  int64_t size_ = 0;
  int64_t next_ = 0;          // slot the next Add() writes
  std::vector<float> slots_;  // [capacity, dim], filled lazily up to size_
};

}  // namespace gdaqd::server::es

#endif  // GDAQD_SERVER_ALGORITHMS_ES_NOVELTY_ARCHIVE_H_
