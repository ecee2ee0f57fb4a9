#include "server/emitters/isoline.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "server/archive/grid_archive.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;

constexpr int kChildren = 20'000;
constexpr int kParams = 8;
// Sample means/stds below are compared with ~5 standard errors of slack at kChildren.
constexpr double kMeanTolerance = 2e-3;    // absolute, for a per-child std of ~0.05
constexpr double kRelStdTolerance = 0.05;  // relative error of a sample std
// Float rounding when recovering the line coordinate t from a child.
constexpr double kLineTolerance = 1e-5;

struct Moments {
  double mean = 0.0;
  double std = 0.0;
};

Moments ComputeMoments(const std::vector<double>& values) {
  Moments m;
  for (double v : values) m.mean += v;
  m.mean /= static_cast<double>(values.size());
  for (double v : values) m.std += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(values.size() - 1));
  return m;
}

// Parents with distinct per-parameter offsets; x2 - x1 ranges over [-1.5, 2].
std::vector<float> Parent1() { return {0.1f, -0.4f, 1.0f, 2.0f, -3.0f, 0.0f, 0.5f, 0.25f}; }
std::vector<float> Parent2() { return {1.1f, -1.4f, 3.0f, 2.5f, -4.5f, 1.0f, 0.0f, 1.25f}; }

TEST(IsolineVariationTest, OffsetFromFirstParentHasZeroMean) {
  const std::vector<float> x1 = Parent1();
  const std::vector<float> x2 = Parent2();
  std::mt19937_64 rng(11);
  std::vector<std::vector<double>> offsets(kParams);
  std::vector<float> child(kParams);
  for (int i = 0; i < kChildren; ++i) {
    IsolineVariation(x1, x2, IsolineParams{}, rng, absl::MakeSpan(child));
    for (int j = 0; j < kParams; ++j) offsets[j].push_back(child[j] - x1[j]);
  }
  for (int j = 0; j < kParams; ++j) {
    EXPECT_NEAR(ComputeMoments(offsets[j]).mean, 0.0, kMeanTolerance) << "param " << j;
  }
}

TEST(IsolineVariationTest, IsoNoiseStdIsIsoSigmaWhenParentsCoincide) {
  const std::vector<float> x1 = Parent1();
  const IsolineParams params;  // iso_sigma 0.005
  std::mt19937_64 rng(12);
  std::vector<std::vector<double>> offsets(kParams);
  std::vector<float> child(kParams);
  for (int i = 0; i < kChildren; ++i) {
    IsolineVariation(x1, x1, params, rng, absl::MakeSpan(child));
    for (int j = 0; j < kParams; ++j) offsets[j].push_back(child[j] - x1[j]);
  }
  for (int j = 0; j < kParams; ++j) {
    const Moments m = ComputeMoments(offsets[j]);
    EXPECT_NEAR(m.std, params.iso_sigma, kRelStdTolerance * params.iso_sigma) << "param " << j;
    EXPECT_NEAR(m.mean, 0.0, kMeanTolerance) << "param " << j;
  }
}

TEST(IsolineVariationTest, WithoutIsoNoiseChildLiesOnTheLine) {
  const std::vector<float> x1 = Parent1();
  const std::vector<float> x2 = Parent2();
  const IsolineParams params{.iso_sigma = 0.0f, .line_sigma = 0.05f};
  std::mt19937_64 rng(13);
  std::vector<double> line_coordinates;
  std::vector<float> child(kParams);
  for (int i = 0; i < kChildren; ++i) {
    IsolineVariation(x1, x2, params, rng, absl::MakeSpan(child));
    // child = x1 + t (x2 - x1): every parameter must give the same t.
    const double t = (static_cast<double>(child[0]) - x1[0]) / (x2[0] - x1[0]);
    for (int j = 1; j < kParams; ++j) {
      const double t_j = (static_cast<double>(child[j]) - x1[j]) / (x2[j] - x1[j]);
      ASSERT_NEAR(t_j, t, kLineTolerance) << "child " << i << " param " << j;
    }
    line_coordinates.push_back(t);
  }
  const Moments m = ComputeMoments(line_coordinates);
  EXPECT_NEAR(m.std, params.line_sigma, kRelStdTolerance * params.line_sigma);
  EXPECT_NEAR(m.mean, 0.0, kMeanTolerance);
}

TEST(IsolineVariationTest, SameSeedGivesSameChild) {
  std::vector<float> a(kParams);
  std::vector<float> b(kParams);
  std::mt19937_64 rng_a(3);
  std::mt19937_64 rng_b(3);
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, rng_a, absl::MakeSpan(a));
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, rng_b, absl::MakeSpan(b));
  EXPECT_EQ(a, b);
}

// ---- EmitIsoline ----

// 4 cells over [0, 4], kParams params; cells 0 and 2 hold Parent1 and Parent2.
std::unique_ptr<ArchiveInterface> MakeArchive(bool filled) {
  auto archive = GridArchive::Create(
      {.low = {0.0f}, .high = {4.0f}, .cells_per_dim = {4}, .num_params = kParams});
  EXPECT_THAT(archive, ::gdaqd::testing::IsOk());
  if (filled) {
    EXPECT_THAT((*archive)->Insert({0.5f}, 1.0f, Parent1()), ::gdaqd::testing::IsOk());
    EXPECT_THAT((*archive)->Insert({2.5f}, 1.0f, Parent2()), ::gdaqd::testing::IsOk());
  }
  return *std::move(archive);
}

TEST(EmitIsolineTest, EmptyArchiveIsFailedPrecondition) {
  std::mt19937_64 rng(0);
  std::vector<float> children;
  EXPECT_THAT(EmitIsoline(*MakeArchive(false), 4, IsolineParams{}, rng, &children),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("empty")));
}

TEST(EmitIsolineTest, NegativeBatchSizeIsInvalidArgument) {
  std::mt19937_64 rng(0);
  std::vector<float> children;
  EXPECT_THAT(EmitIsoline(*MakeArchive(true), -1, IsolineParams{}, rng, &children),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("batch_size")));
}

TEST(EmitIsolineTest, ResizesChildrenToBatchTimesParams) {
  std::mt19937_64 rng(0);
  std::vector<float> children(3, 42.0f);
  GDAQD_ASSERT_OK(EmitIsoline(*MakeArchive(true), 5, IsolineParams{}, rng, &children));
  EXPECT_EQ(children.size(), 5u * kParams);
}

TEST(EmitIsolineTest, ZeroSigmasCopyElitesOfTheArchive) {
  std::mt19937_64 rng(4);
  std::vector<float> children;
  const IsolineParams params{.iso_sigma = 0.0f, .line_sigma = 0.0f};
  GDAQD_ASSERT_OK(EmitIsoline(*MakeArchive(true), 50, params, rng, &children));
  ASSERT_EQ(children.size(), 50u * kParams);
  int from_first = 0;
  for (int i = 0; i < 50; ++i) {
    const std::vector<float> child(children.begin() + i * kParams,
                                   children.begin() + (i + 1) * kParams);
    ASSERT_THAT(child, ::testing::AnyOf(::testing::Eq(Parent1()), ::testing::Eq(Parent2())));
    from_first += child == Parent1() ? 1 : 0;
  }
  // Both elites are used as first parent (each with probability 1/2 per child).
  EXPECT_GT(from_first, 0);
  EXPECT_LT(from_first, 50);
}

}  // namespace
}  // namespace gdaqd::server
