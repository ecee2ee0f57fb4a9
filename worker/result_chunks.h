// Turning one episode's outcome into the EpisodeResult messages of WorkerService.Connect.
#ifndef GDAQD_WORKER_RESULT_CHUNKS_H_
#define GDAQD_WORKER_RESULT_CHUNKS_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/rollout.h"
#include "gdaqd/v1/coordinator.pb.h"

namespace gdaqd::worker {

// Most bytes of packed transitions per message: half the 1 MiB message budget of DESIGN.md §6,
// leaving ample room for the descriptor and framing.
inline constexpr size_t kMaxTransitionChunkBytes = 512 * 1024;

// Splits `result` into the messages of one episode of lease `lease_id`, in sending order.
//
// Each message carries (lease_id, index) and chunk = 0, 1, 2, ...; its `transitions` hold whole
// rows of `row_floats` float32 values (little-endian), at most max(1 row, max_chunk_bytes)
// bytes, and the concatenation of all chunks is result.transitions. Only the last message has
// last_chunk = true and the outcome (fitness, behavior_descriptor, length, terminated,
// diverged). Without transitions there is exactly one message.
//
// Returns InvalidArgument if row_floats < 1 or result.transitions is not a whole number of rows.
absl::StatusOr<std::vector<gdaqd::v1::EpisodeResult>> SplitEpisodeResult(
    uint64_t lease_id, int32_t index, const common::EpisodeResult& result, int row_floats,
    size_t max_chunk_bytes = kMaxTransitionChunkBytes);

// The single message reporting that episode (lease_id, index) could not run: chunk 0,
// last_chunk, and `error` = status.ToString() truncated to 1 KiB. Precondition: !status.ok().
gdaqd::v1::EpisodeResult ErrorEpisodeResult(uint64_t lease_id, int32_t index,
                                            const absl::Status& status);

}  // namespace gdaqd::worker

#endif  // GDAQD_WORKER_RESULT_CHUNKS_H_
