#include "server/models/replay_buffer.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int kObsDim = 2;
constexpr int kActionDim = 1;
constexpr int kRowSize = 2 * kObsDim + kActionDim + 3;  // 8

// Row whose every value is `id` (so a row's identity survives any copy).
std::vector<float> RowsWithIds(std::initializer_list<int> ids) {
  std::vector<float> rows;
  for (int id : ids) rows.insert(rows.end(), kRowSize, static_cast<float>(id));
  return rows;
}

// The id of each row in `rows`, checking that every value of a row equals its id.
std::vector<int> IdsOf(const std::vector<float>& rows) {
  EXPECT_EQ(rows.size() % kRowSize, 0u);
  std::vector<int> ids;
  for (size_t r = 0; r < rows.size() / kRowSize; ++r) {
    for (int i = 0; i < kRowSize; ++i) EXPECT_EQ(rows[r * kRowSize + i], rows[r * kRowSize]);
    ids.push_back(static_cast<int>(rows[r * kRowSize]));
  }
  return ids;
}

std::unique_ptr<ReplayBuffer> MakeBuffer(int64_t capacity) {
  auto buffer = ReplayBuffer::Create(kObsDim, kActionDim, capacity);
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  return *std::move(buffer);
}

TEST(ReplayBufferTest, RowSizeFollowsTransitionLayout) {
  auto buffer = MakeBuffer(10);
  EXPECT_EQ(buffer->row_size(), kRowSize);
  EXPECT_EQ(buffer->capacity(), 10);
  EXPECT_EQ(buffer->size(), 0);
}

TEST(ReplayBufferTest, CreateRejectsBadArguments) {
  EXPECT_THAT(ReplayBuffer::Create(0, 1, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("obs_dim")));
  EXPECT_THAT(ReplayBuffer::Create(2, -1, 10),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action_dim")));
  EXPECT_THAT(ReplayBuffer::Create(2, 1, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity")));
}

TEST(ReplayBufferTest, RingOverwritesOldestFirst) {
  auto buffer = MakeBuffer(4);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1, 2, 3})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({4, 5})));
  EXPECT_EQ(buffer->size(), 4);
  std::vector<float> rows;
  GDAQD_ASSERT_OK(buffer->Gather(kAllProvenances, &rows));
  EXPECT_THAT(IdsOf(rows), ElementsAreArray({2, 3, 4, 5}));

  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGradient, RowsWithIds({6, 7, 8})));
  GDAQD_ASSERT_OK(buffer->Gather(kAllProvenances, &rows));
  EXPECT_THAT(IdsOf(rows), ElementsAreArray({5, 6, 7, 8}));
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kIsoline)), 0);
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kModel)), 1);
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kGradient)), 3);
}

TEST(ReplayBufferTest, AddingMoreThanCapacityKeepsTheLastRows) {
  auto buffer = MakeBuffer(3);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({2, 3, 4, 5, 6})));
  std::vector<float> rows;
  GDAQD_ASSERT_OK(buffer->Gather(kAllProvenances, &rows));
  EXPECT_THAT(IdsOf(rows), ElementsAreArray({4, 5, 6}));
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kModel)), 3);
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kIsoline)), 0);
}

TEST(ReplayBufferTest, FilterCountsAndGatherMatchProvenance) {
  auto buffer = MakeBuffer(100);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1, 2})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({10, 11, 12})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGradient, RowsWithIds({20})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGreedy, RowsWithIds({30, 31})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({13})));

  EXPECT_EQ(buffer->size(), 9);
  EXPECT_EQ(buffer->size(kAllProvenances), 9);
  EXPECT_EQ(buffer->size(0), 0);
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kModel)), 4);
  const ProvenanceMask d_model = ProvenanceMaskOf({Provenance::kModel, Provenance::kGradient});
  EXPECT_EQ(buffer->size(d_model), 5);

  std::vector<float> rows;
  GDAQD_ASSERT_OK(buffer->Gather(d_model, &rows));
  EXPECT_THAT(IdsOf(rows), ElementsAreArray({10, 11, 12, 20, 13}));
  GDAQD_ASSERT_OK(buffer->Gather(0, &rows));
  EXPECT_TRUE(rows.empty());
}

TEST(ReplayBufferTest, SampleReturnsOnlyMatchingRowsAndCoversThem) {
  auto buffer = MakeBuffer(6);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1, 2})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({10, 11})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGradient, RowsWithIds({20})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({3, 4})));  // evicts 1
  std::mt19937_64 rng(7);
  std::vector<float> rows;
  const ProvenanceMask filter = ProvenanceMaskOf({Provenance::kIsoline, Provenance::kGradient});
  GDAQD_ASSERT_OK(buffer->Sample(3000, filter, rng, &rows));
  ASSERT_EQ(rows.size(), 3000u * kRowSize);
  std::map<int, int> counts;
  for (int id : IdsOf(rows)) ++counts[id];
  // Exactly the four matching rows, each ~750 times (uniform; 5 sigma ~ 120).
  ASSERT_EQ(counts.size(), 4u);
  for (int id : {2, 3, 4, 20}) {
    EXPECT_NEAR(counts[id], 750, 150) << "row " << id;
  }
}

TEST(ReplayBufferTest, SampleIsDeterministicGivenTheSeed) {
  auto buffer = MakeBuffer(10);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({1, 2, 3, 4, 5})));
  std::mt19937_64 rng_a(3), rng_b(3);
  std::vector<float> a, b;
  GDAQD_ASSERT_OK(buffer->Sample(50, kAllProvenances, rng_a, &a));
  GDAQD_ASSERT_OK(buffer->Sample(50, kAllProvenances, rng_b, &b));
  EXPECT_EQ(a, b);
}

TEST(ReplayBufferTest, SampleWithoutMatchesFails) {
  auto buffer = MakeBuffer(10);
  std::mt19937_64 rng(1);
  std::vector<float> rows = {42};
  EXPECT_THAT(buffer->Sample(4, kAllProvenances, rng, &rows),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no stored")));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1})));
  EXPECT_THAT(buffer->Sample(4, ProvenanceBit(Provenance::kModel), rng, &rows),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no stored")));
  EXPECT_THAT(rows, ElementsAreArray({42.0f}));
  EXPECT_THAT(buffer->Sample(-1, kAllProvenances, rng, &rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("n must be")));
  EXPECT_THAT(buffer->Sample(1, 1u << 7, rng, &rows),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("filter")));
}

TEST(ReplayBufferTest, BadRowsAreRejectedAtomically) {
  auto buffer = MakeBuffer(10);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1})));

  std::vector<float> ragged = RowsWithIds({2, 3});
  ragged.pop_back();
  EXPECT_THAT(buffer->Add(Provenance::kModel, ragged),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of the row")));

  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    std::vector<float> rows = RowsWithIds({2, 3, 4});
    rows[2 * kRowSize + 5] = bad;  // last row
    EXPECT_THAT(buffer->Add(Provenance::kModel, rows),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not finite")));
  }
  EXPECT_THAT(buffer->Add(static_cast<Provenance>(9), RowsWithIds({2})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("provenance")));

  EXPECT_EQ(buffer->size(), 1);
  EXPECT_EQ(buffer->size(ProvenanceBit(Provenance::kModel)), 0);
  std::vector<float> rows;
  GDAQD_ASSERT_OK(buffer->Gather(kAllProvenances, &rows));
  EXPECT_THAT(IdsOf(rows), ElementsAreArray({1}));
}

// Adds `batches` of rows (ids counting up, provenance drawn per batch) to a buffer of
// `capacity` both as whole batches and one row at a time, and checks after each batch that
// both hold the same rows per provenance; then that they sample and save the same.
void ExpectRunsMatchRowByRow(int64_t capacity, const std::vector<int>& batches) {
  auto bulk = MakeBuffer(capacity);
  auto single = MakeBuffer(capacity);
  std::mt19937_64 rng(7);
  int next_id = 0;
  for (int batch : batches) {
    const auto provenance = static_cast<Provenance>(rng() % kNumProvenances);
    std::vector<int> ids(batch);
    for (int& id : ids) id = next_id++;
    std::vector<float> rows;
    for (int id : ids) rows.insert(rows.end(), kRowSize, static_cast<float>(id));
    GDAQD_ASSERT_OK(bulk->Add(provenance, rows));
    for (int id : ids) GDAQD_ASSERT_OK(single->Add(provenance, RowsWithIds({id})));
    ASSERT_EQ(bulk->size(), single->size());
    for (int p = 0; p < kNumProvenances; ++p) {
      const ProvenanceMask mask = ProvenanceBit(static_cast<Provenance>(p));
      ASSERT_EQ(bulk->size(mask), single->size(mask)) << "batch " << batch << " provenance " << p;
      std::vector<float> a, b;
      GDAQD_ASSERT_OK(bulk->Gather(mask, &a));
      GDAQD_ASSERT_OK(single->Gather(mask, &b));
      ASSERT_EQ(a, b) << "batch " << batch << " provenance " << p;
    }
  }
  std::mt19937_64 rng_a(3), rng_b(3);
  std::vector<float> a, b;
  GDAQD_ASSERT_OK(bulk->Sample(200, kAllProvenances, rng_a, &a));
  GDAQD_ASSERT_OK(single->Sample(200, kAllProvenances, rng_b, &b));
  EXPECT_EQ(a, b);
  std::ostringstream saved_bulk, saved_single;
  GDAQD_ASSERT_OK(bulk->Save(saved_bulk));
  GDAQD_ASSERT_OK(single->Save(saved_single));
  EXPECT_EQ(saved_bulk.str(), saved_single.str());
  // And a loaded buffer holds the same rows in the same order.
  std::istringstream in(saved_bulk.str());
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<ReplayBuffer> loaded, ReplayBuffer::Load(in));
  std::vector<float> all_loaded, all_bulk;
  GDAQD_ASSERT_OK(loaded->Gather(kAllProvenances, &all_loaded));
  GDAQD_ASSERT_OK(bulk->Gather(kAllProvenances, &all_bulk));
  EXPECT_EQ(all_loaded, all_bulk);
}

// Add() copies runs of rows at once; the state must be what adding them one row at a time
// gives: same rows per provenance, same samples for a seed, same saved bytes. Batch sizes
// below, at and above the capacity, so that runs wrap around the ring.
TEST(ReplayBufferTest, AddingRunsMatchesAddingRowByRow) {
  ExpectRunsMatchRowByRow(37, {5, 1, 30, 12, 37, 3, 50, 36, 2, 74});
}

// Rows are stored in blocks of 2^15 rows of this size (1 MiB); runs that cross blocks, a last
// block cut at the capacity, and wrapping across blocks give the same state too.
TEST(ReplayBufferTest, RunsAcrossStorageBlocksMatchAddingRowByRow) {
  ExpectRunsMatchRowByRow(70'000, {20'000, 30'001, 1, 19'000, 40'000, 70'000, 100'003, 12'345});
}

// The finiteness check runs a block at a time; a bad value anywhere (first value, inside a full
// block, at a block's end, in the tail) is found and named.
TEST(ReplayBufferTest, NonFiniteValueIsFoundAnywhere) {
  constexpr int kRows = 40;  // 320 floats: five blocks of 64 and no tail; 41 rows leave a tail
  for (int rows_count : {kRows, kRows + 1}) {
    for (int at : {0, 63, 64, 200, rows_count * kRowSize - 1}) {
      for (float bad :
           {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
        auto buffer = MakeBuffer(100);
        std::vector<float> rows(static_cast<size_t>(rows_count) * kRowSize, 1.0f);
        rows[at] = bad;
        EXPECT_THAT(buffer->Add(Provenance::kIsoline, rows),
                    StatusIs(absl::StatusCode::kInvalidArgument,
                             HasSubstr(absl::StrCat("rows value ", at % kRowSize, " of row ",
                                                    at / kRowSize, " is not finite"))))
            << "at " << at;
        EXPECT_EQ(buffer->size(), 0);
      }
    }
  }
  // The largest finite magnitudes are finite.
  auto buffer = MakeBuffer(10);
  std::vector<float> rows(kRowSize, std::numeric_limits<float>::max());
  rows[1] = -std::numeric_limits<float>::max();
  rows[2] = std::numeric_limits<float>::denorm_min();
  GDAQD_EXPECT_OK(buffer->Add(Provenance::kIsoline, rows));
}

TEST(ReplayBufferTest, SaveLoadRoundTripPreservesEverything) {
  auto buffer = MakeBuffer(5);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kIsoline, RowsWithIds({1, 2, 3})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({4, 5})));
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGreedy, RowsWithIds({6, 7})));  // wrapped ring
  std::vector<float> odd = RowsWithIds({8});
  odd[3] = -1.5e-7f;  // a value that is not its row id survives bit for bit
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kGradient, odd));

  std::stringstream stream;
  GDAQD_ASSERT_OK(buffer->Save(stream));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<ReplayBuffer> loaded, ReplayBuffer::Load(stream));
  EXPECT_EQ(loaded->obs_dim(), kObsDim);
  EXPECT_EQ(loaded->action_dim(), kActionDim);
  EXPECT_EQ(loaded->capacity(), 5);
  EXPECT_EQ(loaded->size(), 5);
  for (int p = 0; p < kNumProvenances; ++p) {
    EXPECT_EQ(loaded->size(1u << p), buffer->size(1u << p)) << "provenance " << p;
  }
  std::vector<float> want, got;
  for (ProvenanceMask filter : {kAllProvenances, ProvenanceBit(Provenance::kGreedy)}) {
    GDAQD_ASSERT_OK(buffer->Gather(filter, &want));
    GDAQD_ASSERT_OK(loaded->Gather(filter, &got));
    EXPECT_EQ(got, want);
  }
  // The loaded ring keeps evicting in the same order.
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({9})));
  GDAQD_ASSERT_OK(loaded->Add(Provenance::kModel, RowsWithIds({9})));
  GDAQD_ASSERT_OK(buffer->Gather(kAllProvenances, &want));
  GDAQD_ASSERT_OK(loaded->Gather(kAllProvenances, &got));
  EXPECT_EQ(got, want);
  // And samples identically.
  std::mt19937_64 rng_a(11), rng_b(11);
  GDAQD_ASSERT_OK(buffer->Sample(20, kAllProvenances, rng_a, &want));
  GDAQD_ASSERT_OK(loaded->Sample(20, kAllProvenances, rng_b, &got));
  EXPECT_EQ(got, want);
}

TEST(ReplayBufferTest, LoadRejectsGarbage) {
  {
    std::stringstream stream("definitely not a replay buffer");
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("magic")));
  }
  {
    std::stringstream stream;
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  }
  auto buffer = MakeBuffer(4);
  GDAQD_ASSERT_OK(buffer->Add(Provenance::kModel, RowsWithIds({1, 2, 3})));
  std::stringstream saved;
  GDAQD_ASSERT_OK(buffer->Save(saved));
  const std::string bytes = saved.str();
  constexpr size_t kHeaderBytes = 8 + 4 + 4 + 4 + 8 + 8;
  {  // Truncated payload.
    std::stringstream stream(bytes.substr(0, bytes.size() - 3));
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
  }
  {  // Unknown version.
    std::string bad = bytes;
    bad[8] = 99;
    std::stringstream stream(bad);
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version")));
  }
  {  // Size larger than capacity.
    std::string bad = bytes;
    bad[kHeaderBytes - 8] = 9;
    std::stringstream stream(bad);
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("size")));
  }
  {  // Unknown provenance tag.
    std::string bad = bytes;
    bad[kHeaderBytes + 1] = 17;
    std::stringstream stream(bad);
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("provenance")));
  }
  {  // A NaN row value.
    std::string bad = bytes;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(bad.data() + kHeaderBytes + 3, &nan, sizeof(nan));
    std::stringstream stream(bad);
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));
  }
  {  // A header claiming a huge buffer fails at end of stream without allocating it.
    std::string bad = bytes.substr(0, kHeaderBytes);
    const int64_t huge = int64_t{1} << 30;
    std::memcpy(bad.data() + kHeaderBytes - 16, &huge, sizeof(huge));
    std::memcpy(bad.data() + kHeaderBytes - 8, &huge, sizeof(huge));
    std::stringstream stream(bad);
    EXPECT_THAT(ReplayBuffer::Load(stream),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
  }
}

}  // namespace
}  // namespace gdaqd::server::models
