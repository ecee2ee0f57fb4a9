#include "worker/result_chunks.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/rollout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::worker {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kRowFloats = 9;  // point_maze: 2 * 2 obs + 2 action + 3

common::EpisodeResult MakeResult(int rows) {
  common::EpisodeResult result;
  result.fitness = -12.5f;
  result.descriptor = {0.25f, -0.75f};
  result.length = rows;
  result.terminated = true;
  result.diverged = false;
  for (int i = 0; i < rows * kRowFloats; ++i) result.transitions.push_back(0.5f * i);
  return result;
}

std::vector<float> Reassemble(const std::vector<gdaqd::v1::EpisodeResult>& chunks) {
  std::string bytes;
  for (const auto& chunk : chunks) bytes += chunk.transitions();
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), floats.size() * sizeof(float));
  return floats;
}

TEST(SplitEpisodeResultTest, SplitsIntoWholeRowsAndReassembles) {
  const common::EpisodeResult result = MakeResult(10);
  // 100 bytes hold 2 whole rows of 36 bytes: 10 rows -> 5 chunks.
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(7, 3, result, kRowFloats, 100));
  ASSERT_EQ(chunks.size(), 5u);
  for (size_t c = 0; c < chunks.size(); ++c) {
    SCOPED_TRACE(c);
    EXPECT_EQ(chunks[c].lease_id(), 7u);
    EXPECT_EQ(chunks[c].index(), 3);
    EXPECT_EQ(chunks[c].chunk(), static_cast<int>(c));
    EXPECT_EQ(chunks[c].last_chunk(), c + 1 == chunks.size());
    EXPECT_EQ(chunks[c].transitions().size(), 2u * kRowFloats * sizeof(float));
    EXPECT_TRUE(chunks[c].error().empty());
  }
  EXPECT_EQ(Reassemble(chunks), result.transitions);
  const gdaqd::v1::EpisodeResult& last = chunks.back();
  EXPECT_EQ(last.fitness(), -12.5f);
  EXPECT_THAT(last.behavior_descriptor(), ElementsAre(0.25f, -0.75f));
  EXPECT_EQ(last.length(), 10);
  EXPECT_TRUE(last.terminated());
  EXPECT_FALSE(last.diverged());
  // The outcome travels only on the last chunk.
  EXPECT_EQ(chunks[0].behavior_descriptor_size(), 0);
  EXPECT_EQ(chunks[0].length(), 0);
}

TEST(SplitEpisodeResultTest, LastChunkHoldsTheRemainder) {
  const common::EpisodeResult result = MakeResult(7);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(1, 0, result, kRowFloats, 3 * 36));
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[2].transitions().size(), 1u * 36);
  EXPECT_EQ(Reassemble(chunks), result.transitions);
}

TEST(SplitEpisodeResultTest, ChunkSmallerThanARowStillCarriesWholeRows) {
  const common::EpisodeResult result = MakeResult(3);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(1, 0, result, kRowFloats, 1));
  ASSERT_EQ(chunks.size(), 3u);
  for (const auto& chunk : chunks) EXPECT_EQ(chunk.transitions().size(), 36u);
  EXPECT_EQ(Reassemble(chunks), result.transitions);
}

TEST(SplitEpisodeResultTest, ExactMultipleHasNoEmptyTrailingChunk) {
  const common::EpisodeResult result = MakeResult(4);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(1, 0, result, kRowFloats, 2 * 36));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_TRUE(chunks[1].last_chunk());
  EXPECT_EQ(chunks[1].transitions().size(), 2u * 36);
}

TEST(SplitEpisodeResultTest, NoTransitionsIsOneMessage) {
  common::EpisodeResult result = MakeResult(0);
  result.length = 250;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(5, 2, result, kRowFloats));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].chunk(), 0);
  EXPECT_TRUE(chunks[0].last_chunk());
  EXPECT_TRUE(chunks[0].transitions().empty());
  EXPECT_EQ(chunks[0].length(), 250);
}

TEST(SplitEpisodeResultTest, DefaultChunksStayUnderHalfAMebibyte) {
  const common::EpisodeResult result = MakeResult(20000);  // 720 kB of transitions
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<gdaqd::v1::EpisodeResult> chunks,
                             SplitEpisodeResult(1, 0, result, kRowFloats));
  ASSERT_EQ(chunks.size(), 2u);
  for (const auto& chunk : chunks) {
    EXPECT_LE(chunk.transitions().size(), kMaxTransitionChunkBytes);
    EXPECT_LT(chunk.ByteSizeLong(), 1024u * 1024u);
  }
  EXPECT_EQ(Reassemble(chunks), result.transitions);
}

TEST(SplitEpisodeResultTest, RejectsPartialRowsAndBadRowSize) {
  common::EpisodeResult result = MakeResult(2);
  result.transitions.pop_back();
  EXPECT_THAT(SplitEpisodeResult(1, 0, result, kRowFloats),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of the row")));
  EXPECT_THAT(SplitEpisodeResult(1, 0, result, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("row_floats")));
}

TEST(ErrorEpisodeResultTest, CarriesTheStatusAsError) {
  const gdaqd::v1::EpisodeResult message =
      ErrorEpisodeResult(9, 4, absl::InvalidArgumentError("policy has 3 parameters"));
  EXPECT_EQ(message.lease_id(), 9u);
  EXPECT_EQ(message.index(), 4);
  EXPECT_TRUE(message.last_chunk());
  EXPECT_THAT(message.error(), HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(message.error(), HasSubstr("policy has 3 parameters"));
}

TEST(ErrorEpisodeResultTest, TruncatesLongMessagesAtACharacterBoundary) {
  // "INTERNAL: " is 10 bytes, so byte 1024 of the error is the second byte of an é.
  std::string long_message(1013, 'x');
  for (int i = 0; i < 100; ++i) long_message += "\xC3\xA9";  // U+00E9, 2 bytes
  const gdaqd::v1::EpisodeResult message =
      ErrorEpisodeResult(1, 0, absl::InternalError(long_message));
  EXPECT_EQ(message.error().size(), 1023u);
  // Serialising and parsing fails on invalid UTF-8 in a proto3 string.
  gdaqd::v1::EpisodeResult parsed;
  ASSERT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
  EXPECT_EQ(parsed.error(), message.error());
}

}  // namespace
}  // namespace gdaqd::worker
