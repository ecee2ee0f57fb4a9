// Building blocks of algorithm checkpoints: little-endian scalars, length-prefixed byte strings,
// RNG states and archive contents on std streams. Every reader names what it was reading in its
// error and bounds what it allocates, so a truncated or corrupt file is a clean error.
#ifndef GDAQD_SERVER_ALGORITHMS_CHECKPOINT_IO_H_
#define GDAQD_SERVER_ALGORITHMS_CHECKPOINT_IO_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/archive/archive_interface.h"
#include "server/models/replay_buffer.h"

namespace gdaqd::server::checkpoint {

void WriteU64(std::ostream& out, uint64_t value);
void WriteF64(std::ostream& out, double value);
void WriteBytes(std::ostream& out, absl::string_view bytes);
void WriteRng(std::ostream& out, const std::mt19937_64& rng);
// Filled cells in ascending order: cell, fitness, descriptor, params.
void WriteArchive(std::ostream& out, const ArchiveInterface& archive);

// DataLoss "checkpoint truncated while reading <what>" at end of stream.
absl::StatusOr<uint64_t> ReadU64(std::istream& in, absl::string_view what);
absl::StatusOr<double> ReadF64(std::istream& in, absl::string_view what);
// InvalidArgument if the stored length exceeds max_bytes.
absl::StatusOr<std::string> ReadBytes(std::istream& in, absl::string_view what, uint64_t max_bytes);
absl::Status ReadRng(std::istream& in, absl::string_view what, std::mt19937_64* rng);
// Reads what WriteArchive wrote into an empty copy of `shape` (same cells, descriptor_dim and
// num_params). InvalidArgument if an elite does not fit the shape or lands in another cell.
absl::StatusOr<std::unique_ptr<ArchiveInterface>> ReadArchive(std::istream& in,
                                                              const ArchiveInterface& shape);
// The replay buffer as one length-prefixed block (ReplayBuffer::Save inside).
absl::Status WriteReplayBuffer(std::ostream& out, const models::ReplayBuffer& buffer);
// InvalidArgument if the stored rows are not `row_size` floats (another task's buffer).
absl::StatusOr<std::unique_ptr<models::ReplayBuffer>> ReadReplayBuffer(std::istream& in,
                                                                       int row_size);

// Provenance labels of the batch asked and not yet told (a checkpoint taken between Ask() and
// Tell() must give Tell() the same labels). InvalidArgument for an unknown label or more than
// `max_count` of them.
inline constexpr uint64_t kMaxBatchProvenance = 100'000;  // batch sizes are validated <= 1e5
void WriteProvenance(std::ostream& out, const std::vector<models::Provenance>& provenance);
absl::StatusOr<std::vector<models::Provenance>> ReadProvenance(std::istream& in,
                                                               uint64_t max_count);

// Checks the 8-byte magic that starts a checkpoint. InvalidArgument naming both on mismatch.
absl::Status ExpectMagic(std::istream& in, absl::string_view magic);
// Reads an 8-byte magic `<prefix><version digit>` (prefix of 7 bytes) and returns the version
// when it is in [oldest, newest]: an algorithm reads the formats its older releases wrote.
// InvalidArgument naming the accepted range otherwise.
absl::StatusOr<int> ReadMagicVersion(std::istream& in, absl::string_view prefix, int oldest,
                                     int newest);

}  // namespace gdaqd::server::checkpoint

#endif  // GDAQD_SERVER_ALGORITHMS_CHECKPOINT_IO_H_
