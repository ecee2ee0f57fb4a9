#include "server/models/replay_buffer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <memory>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/float_scan.h"

namespace gdaqd::server::models {
namespace {

constexpr char kMagic[8] = {'G', 'D', 'Q', 'D', 'R', 'P', 'L', 'B'};
constexpr uint32_t kVersion = 1;
// Rows read per chunk in Load(), so a header that lies about its size fails at end of stream
// instead of allocating what it claims.
constexpr int64_t kLoadChunkRows = 4096;

bool IsValidProvenance(uint8_t p) { return p < kNumProvenances; }

// Index of the first value of `values` that is not finite, or values.size() if all are.
size_t FirstNonFinite(absl::Span<const float> values) {
  return common::FirstAboveMagnitude(values, std::numeric_limits<float>::max());
}

bool AllFinite(absl::Span<const float> values) { return FirstNonFinite(values) == values.size(); }

// ---- Little-endian encoding (the host order on every platform we target; swapped otherwise).

template <typename T>
T ByteSwap(T value) {
  unsigned char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  std::reverse(bytes, bytes + sizeof(T));
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

template <typename T>
void WriteLe(std::ostream& out, T value) {
  if constexpr (std::endian::native != std::endian::little) value = ByteSwap(value);
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
bool ReadLe(std::istream& in, T* value) {
  if (!in.read(reinterpret_cast<char*>(value), sizeof(T))) return false;
  if constexpr (std::endian::native != std::endian::little) *value = ByteSwap(*value);
  return true;
}

void WriteFloatsLe(std::ostream& out, const float* values, int64_t count) {
  if constexpr (std::endian::native == std::endian::little) {
    out.write(reinterpret_cast<const char*>(values),
              static_cast<std::streamsize>(count * sizeof(float)));
  } else {
    for (int64_t i = 0; i < count; ++i) WriteLe(out, values[i]);
  }
}

bool ReadFloatsLe(std::istream& in, float* values, int64_t count) {
  if (!in.read(reinterpret_cast<char*>(values),
               static_cast<std::streamsize>(count * sizeof(float)))) {
    return false;
  }
  if constexpr (std::endian::native != std::endian::little) {
    for (int64_t i = 0; i < count; ++i) values[i] = ByteSwap(values[i]);
  }
  return true;
}

// Reads `size` provenance bytes in chunks (see kLoadChunkRows) and checks each one.
absl::Status ReadProvenances(std::istream& in, int64_t size, std::vector<uint8_t>* provenances) {
  for (int64_t done = 0; done < size;) {
    const int64_t chunk = std::min(kLoadChunkRows, size - done);
    provenances->resize(done + chunk);
    if (!in.read(reinterpret_cast<char*>(provenances->data() + done), chunk)) {
      return absl::InvalidArgumentError("replay buffer provenances are truncated");
    }
    done += chunk;
  }
  for (int64_t k = 0; k < size; ++k) {
    if (!IsValidProvenance((*provenances)[k])) {
      return absl::InvalidArgumentError(absl::StrCat("replay buffer row ", k,
                                                     " has unknown provenance ",
                                                     static_cast<int>((*provenances)[k])));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFilter(ProvenanceMask filter) {
  if ((filter & ~kAllProvenances) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("provenance filter 0x", absl::Hex(filter),
                                                   " has bits outside 0x",
                                                   absl::Hex(kAllProvenances)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplayBuffer>> ReplayBuffer::Create(int obs_dim, int action_dim,
                                                                   int64_t capacity) {
  if (obs_dim < 1 || obs_dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("obs_dim must be in [1, ", kMaxDim, "], got ", obs_dim));
  }
  if (action_dim < 0 || action_dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("action_dim must be in [0, ", kMaxDim, "], got ", action_dim));
  }
  if (capacity < 1 || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("capacity must be in [1, ", kMaxCapacity, "], got ", capacity));
  }
  return std::unique_ptr<ReplayBuffer>(new ReplayBuffer(obs_dim, action_dim, capacity));
}

ReplayBuffer::ReplayBuffer(int obs_dim, int action_dim, int64_t capacity)
    : obs_dim_(obs_dim),
      action_dim_(action_dim),
      row_size_(2 * obs_dim + action_dim + 3),
      capacity_(capacity),
      // The largest power of two of rows that fits kBlockFloats (at least one row).
      block_shift_(std::bit_width(static_cast<uint64_t>(std::max(1, kBlockFloats / row_size_))) -
                   1) {}

int64_t ReplayBuffer::SlotOfAge(int64_t k) const {
  const int64_t oldest = size_ < capacity_ ? 0 : next_;
  const int64_t slot = oldest + k;
  return slot < capacity_ ? slot : slot - capacity_;
}

void ReplayBuffer::Reserve(int64_t rows) {
  const int64_t slots = std::min(rows, capacity_);
  const int64_t block_rows = int64_t{1} << block_shift_;
  // Whole blocks (the last one cut at the capacity): rows are written in place, never moved.
  while (allocated_ < slots) {
    const int64_t n = std::min(block_rows, capacity_ - allocated_);
    blocks_.push_back(std::make_unique_for_overwrite<float[]>(static_cast<size_t>(n) * row_size_));
    allocated_ += n;
  }
  if (static_cast<size_t>(slots) > provenance_.capacity()) {
    provenance_.reserve(
        std::min<size_t>(capacity_, std::max<size_t>(slots, 2 * provenance_.capacity())));
  }
}

void ReplayBuffer::CopyIn(int64_t slot, const float* rows, int64_t n) {
  const int64_t block_rows = int64_t{1} << block_shift_;
  while (n > 0) {
    const int64_t run = std::min(n, block_rows - (slot & (block_rows - 1)));
    std::memcpy(Row(slot), rows, static_cast<size_t>(run) * row_size_ * sizeof(float));
    slot += run;
    rows += run * row_size_;
    n -= run;
  }
}

void ReplayBuffer::AddRow(Provenance provenance, const float* row) {
  Reserve(size_ + 1);
  AddRun(provenance, row, 1);
}

absl::Status ReplayBuffer::Add(Provenance provenance, absl::Span<const float> rows) {
  if (!IsValidProvenance(static_cast<uint8_t>(provenance))) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown provenance ", static_cast<int>(provenance)));
  }
  if (rows.size() % row_size_ != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows has ", rows.size(), " floats, not a multiple of the row size ", row_size_));
  }
  if (const size_t i = FirstNonFinite(rows); i < rows.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows value ", i % row_size_, " of row ", i / row_size_, " is not finite"));
  }
  const int64_t num_rows = static_cast<int64_t>(rows.size()) / row_size_;
  // Rows that would be overwritten within this call are skipped.
  const int64_t first = std::max<int64_t>(0, num_rows - capacity_);
  Reserve(size_ + num_rows - first);
  // The same state as AddRow() row by row, copied in at most three contiguous runs: the
  // growing tail, then the ring from next_ to its end, then from its start.
  for (int64_t r = first; r < num_rows;) {
    const int64_t run = std::min(num_rows - r, capacity_ - next_);
    AddRun(provenance, rows.data() + r * row_size_, run);
    r += run;
  }
  return absl::OkStatus();
}

void ReplayBuffer::AddRun(Provenance provenance, const float* rows, int64_t n) {
  const int64_t slot = next_;
  const auto tag = static_cast<uint8_t>(provenance);
  if (size_ < capacity_) {
    // Still growing: slot == size_ == provenance_.size(), and n <= capacity_ - size_.
    provenance_.insert(provenance_.end(), static_cast<size_t>(n), tag);
    size_ += n;
  } else {
    // Full: the run overwrites the n oldest rows, each the oldest of its provenance.
    for (int64_t k = 0; k < n; ++k) slots_by_provenance_[provenance_[slot + k]].pop_front();
    std::fill_n(provenance_.begin() + slot, n, tag);
  }
  CopyIn(slot, rows, n);
  std::deque<int32_t>& slots = slots_by_provenance_[tag];
  for (int64_t k = 0; k < n; ++k) slots.push_back(static_cast<int32_t>(slot + k));
  next_ = slot + n == capacity_ ? 0 : slot + n;
}

int64_t ReplayBuffer::size(ProvenanceMask filter) const {
  int64_t count = 0;
  for (int p = 0; p < kNumProvenances; ++p) {
    if (filter & (1u << p)) count += static_cast<int64_t>(slots_by_provenance_[p].size());
  }
  return count;
}

absl::Status ReplayBuffer::Sample(int64_t n, ProvenanceMask filter, std::mt19937_64& rng,
                                  std::vector<float>* rows) const {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("n must be >= 0, got ", n));
  if (absl::Status status = CheckFilter(filter); !status.ok()) return status;
  const int64_t matching = size(filter);
  if (matching == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("no stored transition matches provenance filter 0x", absl::Hex(filter), " (",
                     size_, " stored)"));
  }
  rows->resize(static_cast<size_t>(n) * row_size_);
  std::uniform_int_distribution<int64_t> pick(0, matching - 1);
  for (int64_t i = 0; i < n; ++i) {
    // Index the concatenation of the matching provenances' slot lists.
    int64_t k = pick(rng);
    int p = 0;
    for (;; ++p) {
      if (!(filter & (1u << p))) continue;
      const int64_t count = static_cast<int64_t>(slots_by_provenance_[p].size());
      if (k < count) break;
      k -= count;
    }
    const int64_t slot = slots_by_provenance_[p][k];
    std::copy_n(Row(slot), row_size_, rows->begin() + i * row_size_);
  }
  return absl::OkStatus();
}

absl::Status ReplayBuffer::Gather(ProvenanceMask filter, std::vector<float>* rows) const {
  if (absl::Status status = CheckFilter(filter); !status.ok()) return status;
  rows->clear();
  rows->reserve(static_cast<size_t>(size(filter)) * row_size_);
  for (int64_t k = 0; k < size_; ++k) {
    const int64_t slot = SlotOfAge(k);
    if (!(filter & (1u << provenance_[slot]))) continue;
    const float* row = Row(slot);
    rows->insert(rows->end(), row, row + row_size_);
  }
  return absl::OkStatus();
}

absl::Status ReplayBuffer::Save(std::ostream& out) const {
  out.write(kMagic, sizeof(kMagic));
  WriteLe<uint32_t>(out, kVersion);
  WriteLe<int32_t>(out, obs_dim_);
  WriteLe<int32_t>(out, action_dim_);
  WriteLe<int64_t>(out, capacity_);
  WriteLe<int64_t>(out, size_);
  // Provenances, oldest first, then rows in the same order.
  for (int64_t k = 0; k < size_; ++k) out.put(static_cast<char>(provenance_[SlotOfAge(k)]));
  for (int64_t k = 0; k < size_; ++k) {
    WriteFloatsLe(out, Row(SlotOfAge(k)), row_size_);
  }
  if (!out) return absl::DataLossError("writing the replay buffer failed");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ReplayBuffer>> ReplayBuffer::Load(std::istream& in) {
  char magic[sizeof(kMagic)];
  if (!in.read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError("not a gdaqd replay buffer (bad magic)");
  }
  uint32_t version = 0;
  int32_t obs_dim = 0, action_dim = 0;
  int64_t capacity = 0, size = 0;
  if (!ReadLe(in, &version) || !ReadLe(in, &obs_dim) || !ReadLe(in, &action_dim) ||
      !ReadLe(in, &capacity) || !ReadLe(in, &size)) {
    return absl::InvalidArgumentError("replay buffer header is truncated");
  }
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("replay buffer version ", version, " is not supported (want ", kVersion, ")"));
  }
  auto buffer_or = Create(obs_dim, action_dim, capacity);
  if (!buffer_or.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad replay buffer header: ", buffer_or.status().message()));
  }
  std::unique_ptr<ReplayBuffer> buffer = *std::move(buffer_or);
  if (size < 0 || size > capacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("replay buffer size ", size, " is outside [0, capacity ", capacity, "]"));
  }
  std::vector<uint8_t> provenances;
  if (absl::Status status = ReadProvenances(in, size, &provenances); !status.ok()) return status;
  const int row_size = buffer->row_size_;
  std::vector<float> chunk_rows;
  for (int64_t done = 0; done < size;) {
    const int64_t chunk = std::min(kLoadChunkRows, size - done);
    chunk_rows.resize(static_cast<size_t>(chunk) * row_size);
    if (!ReadFloatsLe(in, chunk_rows.data(), chunk * row_size)) {
      return absl::InvalidArgumentError("replay buffer rows are truncated");
    }
    if (!AllFinite(chunk_rows)) {
      return absl::InvalidArgumentError("replay buffer holds non-finite values");
    }
    buffer->Reserve(done + chunk);
    for (int64_t r = 0; r < chunk; ++r) {
      buffer->AddRow(static_cast<Provenance>(provenances[done + r]),
                     chunk_rows.data() + r * row_size);
    }
    done += chunk;
  }
  return buffer;
}

}  // namespace gdaqd::server::models
