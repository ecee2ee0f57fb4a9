#include "server/algorithms/es/novelty_archive.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace gdaqd::server::es {

NoveltyArchive::NoveltyArchive(int dim, int64_t capacity) : dim_(dim), capacity_(capacity) {}

void NoveltyArchive::Add(absl::Span<const float> descriptor) {
  const size_t offset = static_cast<size_t>(next_) * dim_;
  if (slots_.size() < offset + dim_) slots_.resize(offset + dim_);
  std::copy(descriptor.begin(), descriptor.end(), slots_.begin() + offset);
  next_ = (next_ + 1) % capacity_;
  size_ = std::min(size_ + 1, capacity_);
}

double NoveltyArchive::Novelty(absl::Span<const float> descriptor, int k) const {
  if (size_ == 0) return 0.0;
  std::vector<double> distances(static_cast<size_t>(size_));
  for (int64_t i = 0; i < size_; ++i) {
    double squared = 0;
    for (int d = 0; d < dim_; ++d) {
      const double diff = static_cast<double>(slots_[i * dim_ + d]) - descriptor[d];
      squared += diff * diff;
    }
    distances[i] = std::sqrt(squared);
  }
  const int64_t used = std::min<int64_t>(k, size_);
  std::nth_element(distances.begin(), distances.begin() + (used - 1), distances.end());
  std::sort(distances.begin(), distances.begin() + used);  // a fixed summation order
  double sum = 0;
  for (int64_t i = 0; i < used; ++i) sum += distances[i];
  return sum / static_cast<double>(used);
}

std::vector<float> NoveltyArchive::Ordered() const {
  std::vector<float> ordered;
  ordered.reserve(static_cast<size_t>(size_) * dim_);
  const int64_t oldest = size_ < capacity_ ? 0 : next_;
  for (int64_t i = 0; i < size_; ++i) {
    const int64_t slot = (oldest + i) % capacity_;
    ordered.insert(ordered.end(), slots_.begin() + slot * dim_, slots_.begin() + (slot + 1) * dim_);
  }
  return ordered;
}

absl::Status NoveltyArchive::Restore(absl::Span<const float> ordered) {
  if (ordered.size() % dim_ != 0 || static_cast<int64_t>(ordered.size() / dim_) > capacity_) {
    return absl::InvalidArgumentError(absl::StrCat("novelty archive of ", ordered.size(),
                                                   " floats does not fit ", capacity_,
                                                   " descriptors of ", dim_));
  }
  slots_.assign(ordered.begin(), ordered.end());
  size_ = static_cast<int64_t>(ordered.size() / dim_);
  next_ = size_ % capacity_;
  return absl::OkStatus();
}

}  // namespace gdaqd::server::es
