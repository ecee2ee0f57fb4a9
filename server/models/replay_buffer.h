// Bounded FIFO replay buffer of real transitions, tagged with the provenance of the policy that
// produced them, so that "train the dynamics model on D_model" (paper §3.3) is a filtered query,
// not a copy (DESIGN.md §6).
#ifndef GDAQD_SERVER_MODELS_REPLAY_BUFFER_H_
#define GDAQD_SERVER_MODELS_REPLAY_BUFFER_H_

#include <array>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::server::models {

// Which emitter produced the policy whose episode gave a transition.
enum class Provenance : uint8_t {
  kIsoline = 0,   // isoline variation (ME, PGA-ME's GA half, imagination-free children)
  kModel = 1,     // added to the imagined archive and sent as is (p_model children)
  kGradient = 2,  // improved with policy-gradient steps through the critic (p_gradient children)
  kGreedy = 3,    // PGA-ME's greedy actor
  kInitial = 4,   // the random initial population
};
inline constexpr int kNumProvenances = 5;

// Bit set of provenances: bit p is set iff Provenance p matches. Build one with
// ProvenanceMaskOf({Provenance::kModel, Provenance::kGradient}) or use kAllProvenances.
using ProvenanceMask = uint32_t;
inline constexpr ProvenanceMask kAllProvenances = (1u << kNumProvenances) - 1;

constexpr ProvenanceMask ProvenanceBit(Provenance p) { return 1u << static_cast<uint32_t>(p); }
constexpr ProvenanceMask ProvenanceMaskOf(std::initializer_list<Provenance> provenances) {
  ProvenanceMask mask = 0;
  for (Provenance p : provenances) mask |= ProvenanceBit(p);
  return mask;
}

// A ring buffer of at most capacity() transition rows. Each row is float32
//   [obs (obs_dim), action (action_dim, raw policy output), reward, next_obs (obs_dim), done,
//    truncated]
// i.e. row_size() = 2 * obs_dim + action_dim + 3 floats (common/rollout.h's packed layout; not
// included here so that gdaqd_models stays buildable on its own). When full, each new row
// overwrites the oldest one. Every row carries one Provenance.
//
// Memory grows with the number of stored rows, a block of about 1 MiB at a time (up to
// capacity() * row_size() floats, 276 MB for 1e6 ant rows), plus ~5 bytes per row of
// bookkeeping; stored rows are never moved.
//
// Thread-compatible: const methods may run concurrently with each other; Add() needs external
// synchronisation (the coordinator's trainer thread owns the buffer).
class ReplayBuffer {
 public:
  static constexpr int64_t kDefaultCapacity = 1'000'000;  // DESIGN.md §5 "replay 1e6"
  // Upper bounds that Create() and Load() enforce (also a guard against garbage headers).
  static constexpr int kMaxDim = 1 << 16;
  static constexpr int64_t kMaxCapacity = int64_t{1} << 31;

  // InvalidArgument unless 1 <= obs_dim <= kMaxDim, 0 <= action_dim <= kMaxDim and
  // 1 <= capacity <= kMaxCapacity (the message names the argument).
  static absl::StatusOr<std::unique_ptr<ReplayBuffer>> Create(int obs_dim, int action_dim,
                                                              int64_t capacity = kDefaultCapacity);

  ReplayBuffer(const ReplayBuffer&) = delete;
  ReplayBuffer& operator=(const ReplayBuffer&) = delete;

  // Appends the rows in `rows` (a whole number of rows, back to back) in order, all tagged
  // `provenance`, evicting the oldest rows once full. If more than capacity() rows are given,
  // only the last capacity() of them remain. Atomic: on error nothing is added.
  // InvalidArgument if rows.size() is not a multiple of row_size(), if a value is not finite,
  // or if `provenance` is not one of the enumerators.
  absl::Status Add(Provenance provenance, absl::Span<const float> rows);

  // Number of stored rows, all provenances / those whose provenance is in `filter`.
  int64_t size() const { return size_; }
  int64_t size(ProvenanceMask filter) const;

  // Replaces *rows (must not be null) with n rows drawn uniformly with replacement among the
  // stored rows whose provenance is in `filter` ([n, row_size()] floats, row-major).
  // InvalidArgument if n < 0 or `filter` has bits outside kAllProvenances; FailedPrecondition
  // if no stored row matches (then *rows is left unchanged).
  absl::Status Sample(int64_t n, ProvenanceMask filter, std::mt19937_64& rng,
                      std::vector<float>* rows) const;

  // Replaces *rows (must not be null) with every stored row whose provenance is in `filter`,
  // oldest first ([size(filter), row_size()] floats). This is how the dynamics ensemble gets its
  // training set (the paper's D_model filter). InvalidArgument if `filter` has bits outside
  // kAllProvenances. Matching nothing is not an error (*rows becomes empty).
  absl::Status Gather(ProvenanceMask filter, std::vector<float>* rows) const;

  // Writes the buffer (dims, capacity, and every row with its provenance, oldest first) as
  // little-endian binary: magic "GDQDRPLB", uint32 version, then the payload. A loaded buffer
  // answers every query like the saved one. Returns DataLoss if the stream fails.
  absl::Status Save(std::ostream& out) const;
  // Reads what Save() wrote. InvalidArgument on a bad magic, an unknown version, out-of-range
  // header fields, an unknown provenance, non-finite values or a truncated stream.
  static absl::StatusOr<std::unique_ptr<ReplayBuffer>> Load(std::istream& in);

  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return action_dim_; }
  // Floats per row: 2 * obs_dim + action_dim + 3.
  int row_size() const { return row_size_; }
  int64_t capacity() const { return capacity_; }

 private:
  ReplayBuffer(int obs_dim, int action_dim, int64_t capacity);

  // Slot of the k-th oldest stored row, 0 <= k < size_.
  int64_t SlotOfAge(int64_t k) const;
  // Floats per storage block (1 MiB); a block holds a power of two of rows.
  static constexpr int kBlockFloats = 1 << 18;

  // Makes storage for min(rows, capacity_) slots (whole blocks) and room in provenance_.
  void Reserve(int64_t rows);
  // Stores one validated row in the next slot, evicting the oldest row if full.
  void AddRow(Provenance provenance, const float* row);
  // Stores n validated rows (back to back) in slots next_ .. next_ + n - 1, evicting the rows
  // there if full, as n AddRow() calls would. Precondition: 0 <= n <= capacity_ - next_, and
  // while growing n <= capacity_ - size_ and Reserve() made room.
  void AddRun(Provenance provenance, const float* rows, int64_t n);
  // Copies n rows into slots slot .. slot + n - 1 (allocated), across blocks.
  void CopyIn(int64_t slot, const float* rows, int64_t n);
  // The row_size_ floats of an allocated slot.
  float* Row(int64_t slot) {
    return blocks_[slot >> block_shift_].get() +
           (slot & ((int64_t{1} << block_shift_) - 1)) * row_size_;
  }
  const float* Row(int64_t slot) const {
    return blocks_[slot >> block_shift_].get() +
           (slot & ((int64_t{1} << block_shift_) - 1)) * row_size_;
  }

  int obs_dim_;
  int action_dim_;
  int row_size_;
  int64_t capacity_;

  // log2 of the rows per block.
  int block_shift_;
  // Row storage: block b holds slots [b << block_shift_, (b + 1) << block_shift_) (the last block
  // ends at capacity_), [rows, row_size_] floats each. Blocks are added as rows arrive and never
  // moved, so growing costs no copy and no transient second buffer.
  std::vector<std::unique_ptr<float[]>> blocks_;
  int64_t allocated_ = 0;  // slots with storage, a whole number of blocks (or capacity_)
  // Provenance of each slot, [slots].
  std::vector<uint8_t> provenance_;
  // Slots holding each provenance, oldest first. Eviction always removes the globally oldest
  // row, which is also the oldest of its provenance, so each list only pops at the front; this
  // gives O(1) filtered uniform sampling. Invariant: sum of sizes == size_.
  std::array<std::deque<int32_t>, kNumProvenances> slots_by_provenance_;
  int64_t size_ = 0;  // stored rows, <= capacity_
  int64_t next_ = 0;  // slot the next row goes to (== the oldest slot once full)
};

}  // namespace gdaqd::server::models

#endif  // GDAQD_SERVER_MODELS_REPLAY_BUFFER_H_
