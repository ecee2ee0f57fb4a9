#include "server/archive/cvt_archive.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/thread.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::IsOk;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatNear;
using ::testing::HasSubstr;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
// Distance allowed between a k-means centroid and its analytic optimum: sampling noise is
// ~0.001 here, but Lloyd converges slowly in 1-D and the kRelativeTolerance stop leaves
// ~0.01 (measured 0.012 for the seed below).
constexpr float kCentroidTolerance = 0.02f;

// Small enough to run in milliseconds in an unoptimised build.
CvtSpec SmallSpec(uint64_t seed) {
  return {.low = {-1.0f, 0.0f},
          .high = {1.0f, 3.0f},
          .num_centroids = 32,
          .num_samples = 2000,
          .seed = seed,
          .max_iterations = 50,
          .num_params = 3};
}

std::unique_ptr<CvtArchive> MakeSmall(uint64_t seed) {
  auto archive = CvtArchive::Create(SmallSpec(seed));
  EXPECT_THAT(archive, IsOk());
  return *std::move(archive);
}

std::vector<float> AllCentroids(const ArchiveInterface& archive) {
  std::vector<float> flat;
  for (int64_t c = 0; c < archive.num_cells(); ++c) {
    for (float v : archive.centroid(c)) flat.push_back(v);
  }
  return flat;
}

// Reference nearest-centroid search, independent of the archive's own.
int64_t BruteForceNearest(const ArchiveInterface& archive, const std::vector<float>& point) {
  int64_t best = 0;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (int64_t c = 0; c < archive.num_cells(); ++c) {
    double d2 = 0.0;
    for (size_t j = 0; j < point.size(); ++j) {
      const double diff = static_cast<double>(point[j]) - archive.centroid(c)[j];
      d2 += diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      best = c;
    }
  }
  return best;
}

TEST(CvtArchiveTest, CreateReportsShape) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(0);
  EXPECT_EQ(archive->num_cells(), 32);
  EXPECT_EQ(archive->descriptor_dim(), 2);
  EXPECT_EQ(archive->num_params(), 3);
  EXPECT_EQ(archive->num_filled(), 0);
}

TEST(CvtArchiveTest, SameSeedGivesIdenticalCentroids) {
  EXPECT_EQ(AllCentroids(*MakeSmall(7)), AllCentroids(*MakeSmall(7)));
}

TEST(CvtArchiveTest, DifferentSeedsGiveDifferentCentroids) {
  EXPECT_NE(AllCentroids(*MakeSmall(7)), AllCentroids(*MakeSmall(8)));
}

TEST(CvtArchiveTest, EveryCentroidIsInsideTheBox) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(3);
  for (int64_t c = 0; c < archive->num_cells(); ++c) {
    for (int j = 0; j < 2; ++j) {
      EXPECT_GE(archive->centroid(c)[j], archive->descriptor_low()[j]) << "cell " << c;
      EXPECT_LE(archive->centroid(c)[j], archive->descriptor_high()[j]) << "cell " << c;
    }
  }
}

TEST(CvtArchiveTest, CentroidsAreDistinct) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(3);
  for (int64_t a = 0; a < archive->num_cells(); ++a) {
    for (int64_t b = a + 1; b < archive->num_cells(); ++b) {
      EXPECT_FALSE(archive->centroid(a)[0] == archive->centroid(b)[0] &&
                   archive->centroid(a)[1] == archive->centroid(b)[1])
          << a << " vs " << b;
    }
  }
}

TEST(CvtArchiveTest, OneDimensionalCvtIsEvenlySpaced) {
  // The optimal 4-cell CVT of U(0, 1) has centroids at the centres of the quarters.
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CvtArchive> archive,
                             CvtArchive::Create({.low = {0.0f},
                                                 .high = {1.0f},
                                                 .num_centroids = 4,
                                                 .num_samples = 20000,
                                                 .seed = 9,
                                                 .max_iterations = 200,
                                                 .num_params = 1}));
  std::vector<float> centroids = AllCentroids(*archive);
  std::sort(centroids.begin(), centroids.end());
  EXPECT_THAT(
      centroids,
      ElementsAre(FloatNear(0.125f, kCentroidTolerance), FloatNear(0.375f, kCentroidTolerance),
                  FloatNear(0.625f, kCentroidTolerance), FloatNear(0.875f, kCentroidTolerance)));
}

TEST(CvtArchiveTest, CellIndexEqualsBruteForceNearest) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(1);
  std::mt19937_64 rng(42);
  // Slightly larger than the box, so out-of-range descriptors are covered too.
  std::uniform_real_distribution<float> x(-1.5f, 1.5f);
  std::uniform_real_distribution<float> y(-0.5f, 3.5f);
  for (int i = 0; i < 1000; ++i) {
    const std::vector<float> point = {x(rng), y(rng)};
    EXPECT_THAT(archive->CellIndex(point), IsOkAndHolds(BruteForceNearest(*archive, point)));
  }
}

TEST(CvtArchiveTest, CentroidMapsToItsOwnCell) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(2);
  for (int64_t c = 0; c < archive->num_cells(); ++c) {
    EXPECT_THAT(archive->CellIndex(archive->centroid(c)), IsOkAndHolds(c));
  }
}

TEST(CvtArchiveTest, CellIndexRejectsNaNAndWrongSize) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(0);
  EXPECT_THAT(archive->CellIndex({0.0f, kNaN}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor[1] = nan")));
  EXPECT_THAT(archive->CellIndex({0.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1 dims")));
}

TEST(CvtArchiveTest, FromCentroidsRoundTrip) {
  std::unique_ptr<CvtArchive> original = MakeSmall(5);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<CvtArchive> rebuilt,
      CvtArchive::FromCentroids(original->descriptor_low(), original->descriptor_high(),
                                AllCentroids(*original), original->num_params()));
  EXPECT_EQ(rebuilt->num_cells(), original->num_cells());
  EXPECT_THAT(rebuilt->descriptor_low(), ElementsAreArray(original->descriptor_low()));
  EXPECT_THAT(rebuilt->descriptor_high(), ElementsAreArray(original->descriptor_high()));
  EXPECT_EQ(AllCentroids(*rebuilt), AllCentroids(*original));
  EXPECT_EQ(rebuilt->num_params(), original->num_params());
  EXPECT_THAT(rebuilt->CellIndex({0.3f, 2.2f}), IsOkAndHolds(*original->CellIndex({0.3f, 2.2f})));
}

TEST(CvtArchiveTest, FromCentroidsRejectsBadCentroids) {
  EXPECT_THAT(CvtArchive::FromCentroids({0.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, 0.5f, 0.5f}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple of dim 2")));
  EXPECT_THAT(CvtArchive::FromCentroids({0.0f, 0.0f}, {1.0f, 1.0f}, {}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("centroids")));
  EXPECT_THAT(CvtArchive::FromCentroids({0.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, 0.5f, 0.5f, 1.5f}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("centroid 1 dim 1")));
  EXPECT_THAT(CvtArchive::FromCentroids({0.0f}, {1.0f}, {kNaN}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("centroid 0 dim 0")));
  EXPECT_THAT(CvtArchive::FromCentroids({0.0f}, {1.0f}, {0.5f}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_params")));
}

TEST(CvtArchiveTest, CreateRejectsBadSpec) {
  CvtSpec spec = SmallSpec(0);
  spec.num_centroids = 0;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_centroids")));
  spec = SmallSpec(0);
  spec.num_centroids = spec.num_samples + 1;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_centroids")));
  spec = SmallSpec(0);
  spec.high = {1.0f, -1.0f};
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("low[1]")));
  spec = SmallSpec(0);
  spec.num_params = 0;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_params")));
  spec = SmallSpec(0);
  spec.max_iterations = -1;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_iterations")));
}

TEST(CvtArchiveTest, CloneKeepsCentroidsAndIsIndependent) {
  std::unique_ptr<CvtArchive> archive = MakeSmall(4);
  std::unique_ptr<ArchiveInterface> clone = archive->Clone();
  GDAQD_ASSERT_OK(clone->Insert({0.0f, 1.0f}, 1.0f, {1.0f, 2.0f, 3.0f}).status());
  EXPECT_EQ(AllCentroids(*clone), AllCentroids(*archive));
  EXPECT_EQ(clone->num_filled(), 1);
  EXPECT_EQ(archive->num_filled(), 0);
}

// k-means on 1e6 samples and 20,000 centroids: the k-means++ seeding alone is 2e10 distance
// computations (tens of seconds on one core), Lloyd's first iterations as many again.
CvtSpec HugeSpec(const std::atomic<bool>* cancel) {
  return {.low = {-1.0f, 0.0f},
          .high = {1.0f, 3.0f},
          .num_centroids = 20'000,
          .num_samples = 1'000'000,
          .seed = 1,
          .max_iterations = 100,
          .num_params = 1,
          .cancel = cancel};
}
// How long Create() may take to notice the flag: polling keeps it at milliseconds; the bound
// is generous for a loaded 2-core machine and still far below the uninterrupted run.
constexpr absl::Duration kInterruptLatency = absl::Seconds(2);

TEST(CvtArchiveTest, CreateWithTheFlagAlreadySetReturnsCancelledAtOnce) {
  std::atomic<bool> cancel{true};
  const absl::Time start = absl::Now();
  EXPECT_THAT(CvtArchive::Create(HugeSpec(&cancel)),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("CVT construction interrupted")));
  EXPECT_LT(absl::Now() - start, kInterruptLatency);
}

TEST(CvtArchiveTest, CancelDuringKMeansEndsCreateQuickly) {
  std::atomic<bool> cancel{false};
  absl::Time cancelled_at = absl::InfiniteFuture();
  absl::StatusOr<std::unique_ptr<CvtArchive>> archive;
  {
    common::Thread canceller("cvt-cancel", [&] {
      absl::SleepFor(absl::Milliseconds(300));  // let sampling finish and k-means start
      cancelled_at = absl::Now();
      cancel = true;
    });
    archive = CvtArchive::Create(HugeSpec(&cancel));
  }  // joins: cancelled_at is written
  EXPECT_THAT(archive,
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("CVT construction interrupted")));
  EXPECT_LT(absl::Now() - cancelled_at, kInterruptLatency);
}

TEST(CvtArchiveTest, SamplesThatCannotBeAllocatedAreResourceExhausted) {
  CvtSpec spec = SmallSpec(0);
  // 2^58 samples x 2 dims x 8 bytes = 2^62 bytes: the allocation fails at once (no memory is
  // touched), and must come back as a status, not as std::bad_alloc.
  spec.num_samples = int64_t{1} << 58;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("out of memory while")));
  // Beyond what a vector can address at all (the size_t product would wrap).
  spec.num_samples = int64_t{1} << 62;
  EXPECT_THAT(CvtArchive::Create(spec),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("out of memory while")));
}

}  // namespace
}  // namespace gdaqd::server
