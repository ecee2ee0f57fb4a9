#include "worker/result_chunks.h"

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace gdaqd::worker {

// The wire format is little-endian float32; on such hosts it is the in-memory representation.
static_assert(std::endian::native == std::endian::little,
              "float32 wire format needs little-endian");

absl::StatusOr<std::vector<gdaqd::v1::EpisodeResult>> SplitEpisodeResult(
    uint64_t lease_id, int32_t index, const common::EpisodeResult& result, int row_floats,
    size_t max_chunk_bytes) {
  if (row_floats < 1) {
    return absl::InvalidArgumentError(absl::StrCat("row_floats is ", row_floats, ", need >= 1"));
  }
  const auto row_size = static_cast<size_t>(row_floats);
  const size_t num_floats = result.transitions.size();
  if (num_floats % row_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transitions have ", num_floats, " floats, not a multiple of the row size ", row_size));
  }
  const size_t num_rows = num_floats / row_size;
  const size_t rows_per_chunk = std::max<size_t>(1, max_chunk_bytes / (row_size * sizeof(float)));
  const size_t num_chunks = std::max<size_t>(1, (num_rows + rows_per_chunk - 1) / rows_per_chunk);

  std::vector<gdaqd::v1::EpisodeResult> messages(num_chunks);
  for (size_t c = 0; c < num_chunks; ++c) {
    gdaqd::v1::EpisodeResult& message = messages[c];
    message.set_lease_id(lease_id);
    message.set_index(index);
    message.set_chunk(static_cast<int32_t>(c));
    const size_t first_row = c * rows_per_chunk;
    const size_t rows = std::min(rows_per_chunk, num_rows - std::min(num_rows, first_row));
    if (rows > 0) {
      message.set_transitions(
          reinterpret_cast<const char*>(result.transitions.data() + first_row * row_size),
          rows * row_size * sizeof(float));
    }
  }
  gdaqd::v1::EpisodeResult& last = messages.back();
  last.set_last_chunk(true);
  last.set_fitness(result.fitness);
  last.mutable_behavior_descriptor()->Assign(result.descriptor.begin(), result.descriptor.end());
  last.set_length(result.length);
  last.set_terminated(result.terminated);
  last.set_diverged(result.diverged);
  return messages;
}

gdaqd::v1::EpisodeResult ErrorEpisodeResult(uint64_t lease_id, int32_t index,
                                            const absl::Status& status) {
  gdaqd::v1::EpisodeResult message;
  message.set_lease_id(lease_id);
  message.set_index(index);
  message.set_chunk(0);
  message.set_last_chunk(true);
  std::string error = status.ToString();
  if (error.size() > common::kMaxStatusMessageBytes) {
    // Cut at a UTF-8 character boundary: proto3 strings must stay valid UTF-8.
    size_t size = common::kMaxStatusMessageBytes;
    while (size > 0 && (static_cast<unsigned char>(error[size]) & 0xC0) == 0x80) --size;
    error.resize(size);
  }
  message.set_error(std::move(error));
  return message;
}

}  // namespace gdaqd::worker
