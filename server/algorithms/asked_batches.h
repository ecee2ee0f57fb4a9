// The batches an algorithm has asked and not yet been told, oldest first, each as the provenance
// of its rows (which replay data its transitions feed). At most two: the batch being evaluated
// and, under the PIPELINED schedule, the next one asked ahead of its Tell().
#ifndef GDAQD_SERVER_ALGORITHMS_ASKED_BATCHES_H_
#define GDAQD_SERVER_ALGORITHMS_ASKED_BATCHES_H_

#include <cstddef>
#include <deque>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/models/replay_buffer.h"

namespace gdaqd::server {

// Not thread-safe: owned by one algorithm, single-thread like it.
class AskedBatches {
 public:
  static constexpr size_t kMaxOutstanding = 2;

  // FailedPrecondition if kMaxOutstanding batches are already outstanding.
  absl::Status CheckRoom() const {
    if (batches_.size() < kMaxOutstanding) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("Ask() called with ", batches_.size(),
                     " batches asked and not yet told; Tell() the oldest first"));
  }
  void Push(std::vector<models::Provenance> provenance) {
    batches_.push_back(std::move(provenance));
  }
  // Takes the oldest batch for a Tell() of `outcomes` outcomes. FailedPrecondition (nothing
  // taken) if there is none or its size differs.
  absl::StatusOr<std::vector<models::Provenance>> Pop(size_t outcomes) {
    const size_t asked = batches_.empty() ? 0 : batches_.front().size();
    if (batches_.empty() || outcomes != asked) {
      return absl::FailedPreconditionError(absl::StrCat(
          "Tell() got ", outcomes, " outcomes but the oldest Ask() not yet told asked for ", asked,
          " children: every outcome must answer a child of that Ask(), whose provenance decides "
          "which replay data its transitions feed"));
    }
    std::vector<models::Provenance> front = std::move(batches_.front());
    batches_.pop_front();
    return front;
  }
  // The one outstanding batch for a checkpoint (empty when none). FailedPrecondition with two.
  absl::StatusOr<std::vector<models::Provenance>> ForCheckpoint() const {
    if (batches_.size() > 1) {
      return absl::FailedPreconditionError(
          "cannot checkpoint with two batches asked and not yet told (PIPELINED schedule "
          "between an Ask() ahead and the Tell() of the batch in flight)");
    }
    return batches_.empty() ? std::vector<models::Provenance>{} : batches_.front();
  }
  // Replaces everything by what a checkpoint held (empty: nothing outstanding).
  void Restore(std::vector<models::Provenance> provenance) {
    batches_.clear();
    if (!provenance.empty()) batches_.push_back(std::move(provenance));
  }
  // The most recent Ask()'s provenance (empty when none is outstanding).
  const std::vector<models::Provenance>& newest() const {
    static const std::vector<models::Provenance> kNone;
    return batches_.empty() ? kNone : batches_.back();
  }
  size_t size() const { return batches_.size(); }

 private:
  std::deque<std::vector<models::Provenance>> batches_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_ASKED_BATCHES_H_
