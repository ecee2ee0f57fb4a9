#include "server/emitters/isoline.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/archive_interface.h"
#include "server/archive/grid_archive.h"
#include "server/emitters/gaussian.h"
#include "server/emitters/selection.h"
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

// x1 == x2 + iso noise only would hide the line term; these parents differ everywhere.
std::vector<float> RandomParams(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> params(n);
  for (float& v : params) v = uniform(rng);
  return params;
}

std::vector<uint32_t> Bits(absl::Span<const float> values) {
  std::vector<uint32_t> bits;
  for (float v : values) bits.push_back(std::bit_cast<uint32_t>(v));
  return bits;
}

// The documented formula, evaluated here (this file, like the library, builds with
// -ffp-contract=off): n is the stream's first sample, z[j] its (j + 2)-th. 4,482 parameters
// (a (64,64) PointMaze policy) cross the sampler's 1,024-float chunks and end on a partial one.
TEST(IsolineVariationTest, ChildIsTheDocumentedFunctionOfItsSeed) {
  constexpr size_t kPointMazeParams = 4482;
  const std::vector<float> x1 = RandomParams(1, kPointMazeParams);
  const std::vector<float> x2 = RandomParams(2, kPointMazeParams);
  const IsolineParams params{.iso_sigma = 0.01f, .line_sigma = 0.1f};
  constexpr uint64_t kSeed = 0x5eed;
  GaussianStream stream(kSeed);
  const float line_step = params.line_sigma * stream.Next();
  std::vector<float> z(kPointMazeParams);
  stream.Fill(absl::MakeSpan(z));
  std::vector<float> expected(kPointMazeParams);
  for (size_t j = 0; j < kPointMazeParams; ++j) {
    expected[j] = x1[j] + params.iso_sigma * z[j] + line_step * (x2[j] - x1[j]);
  }
  std::vector<float> child(kPointMazeParams);
  IsolineVariation(x1, x2, params, kSeed, absl::MakeSpan(child));
  EXPECT_EQ(Bits(child), Bits(expected));
}

// The same with the noise drawn by the sampler's portable scalar code, whatever kernel the
// library picked on this CPU: sizes around the 1,024-float chunks and the 8-normal vector blocks.
TEST(IsolineVariationTest, ChildMatchesTheScalarSamplerForManySizes) {
  const IsolineParams params{.iso_sigma = 0.02f, .line_sigma = 0.2f};
  for (size_t n : {0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 1023, 1024, 1025, 2049, 4482}) {
    const std::vector<float> x1 = RandomParams(3, n);
    const std::vector<float> x2 = RandomParams(4, n);
    for (uint64_t seed = 0; seed < 20; ++seed) {
      GaussianStream stream(seed);
      const float line_step = params.line_sigma * stream.Next();
      std::vector<float> z(n);
      gaussian_internal::FillWithKernel(gaussian_internal::FillKernel::kScalar, stream,
                                        absl::MakeSpan(z));
      std::vector<float> expected(n);
      for (size_t j = 0; j < n; ++j) {
        expected[j] = x1[j] + params.iso_sigma * z[j] + line_step * (x2[j] - x1[j]);
      }
      std::vector<float> child(n);
      IsolineVariation(x1, x2, params, seed, absl::MakeSpan(child));
      ASSERT_EQ(Bits(child), Bits(expected)) << "n " << n << " seed " << seed;
    }
  }
}

// Part of the reproducibility contract (gaussian.h): these bits must never change.
TEST(IsolineVariationTest, ChildOfSeed5IsFixedForever) {
  std::vector<float> child(kParams);
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, uint64_t{5}, absl::MakeSpan(child));
  EXPECT_THAT(Bits(child), ::testing::ElementsAreArray<uint32_t>(
                               {0xbbce75e0, 0xbe96a788, 0x3f475b99, 0x3ffa3414, 0xc0356fc2,
                                0xbde85724, 0x3f0e2354, 0x3e1014d6}));
}

TEST(IsolineVariationTest, RngOverloadUsesExactlyOneDrawAsTheSeed) {
  std::mt19937_64 rng(21);
  std::mt19937_64 copy = rng;
  std::vector<float> from_rng(kParams);
  std::vector<float> from_seed(kParams);
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, rng, absl::MakeSpan(from_rng));
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, uint64_t{copy()},
                   absl::MakeSpan(from_seed));
  EXPECT_EQ(Bits(from_rng), Bits(from_seed));
  EXPECT_TRUE(rng == copy);
}

TEST(IsolineVariationTest, DifferentSeedsGiveDifferentChildren) {
  std::vector<float> a(kParams);
  std::vector<float> b(kParams);
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, uint64_t{6}, absl::MakeSpan(a));
  IsolineVariation(Parent1(), Parent2(), IsolineParams{}, uint64_t{7}, absl::MakeSpan(b));
  for (int j = 0; j < kParams; ++j) EXPECT_NE(a[j], b[j]) << "param " << j;
}

TEST(IsolineVariationTest, InPlaceChildEqualsOutOfPlaceChild) {
  const std::vector<float> x1 = RandomParams(3, 1000);
  const std::vector<float> x2 = RandomParams(4, 1000);
  std::vector<float> out_of_place(x1.size());
  IsolineVariation(x1, x2, IsolineParams{}, uint64_t{8}, absl::MakeSpan(out_of_place));
  std::vector<float> in_place = x1;
  IsolineVariation(in_place, x2, IsolineParams{}, uint64_t{8}, absl::MakeSpan(in_place));
  EXPECT_EQ(Bits(in_place), Bits(out_of_place));
}

// Successive children of one caller RNG (as EmitIsoline makes them) have independent noise:
// the Pearson correlation of two children's noise vectors is ~N(0, 1/kLength).
TEST(IsolineVariationTest, NoiseOfSuccessiveChildrenIsUncorrelated) {
  constexpr int kLength = 4482;
  constexpr int kPairs = 200;
  const std::vector<float> zeros(kLength, 0.0f);
  const IsolineParams params{.iso_sigma = 1.0f, .line_sigma = 1.0f};  // x1 == x2: no line term
  std::mt19937_64 rng(17);
  auto correlation = [](const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;  // the noise has mean 0
    for (size_t j = 0; j < a.size(); ++j) {
      ab += static_cast<double>(a[j]) * b[j];
      aa += static_cast<double>(a[j]) * a[j];
      bb += static_cast<double>(b[j]) * b[j];
    }
    return ab / std::sqrt(aa * bb);
  };
  constexpr double kStandardErrors = 5.0;
  const double per_pair = kStandardErrors / std::sqrt(kLength);
  std::vector<float> previous(kLength);
  IsolineVariation(zeros, zeros, params, rng, absl::MakeSpan(previous));
  double sum = 0;
  for (int i = 0; i < kPairs; ++i) {
    std::vector<float> next(kLength);
    IsolineVariation(zeros, zeros, params, rng, absl::MakeSpan(next));
    const double r = correlation(previous, next);
    ASSERT_NEAR(r, 0.0, per_pair) << "pair " << i;
    sum += r;
    previous = std::move(next);
  }
  EXPECT_NEAR(sum / kPairs, 0.0, per_pair / std::sqrt(kPairs));
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

// The documented order of draws: both parent selections, then one seed per child.
TEST(EmitIsolineTest, ChildrenAreIsolineVariationsOfTheSelectedParentsInOrder) {
  const std::unique_ptr<ArchiveInterface> archive = MakeArchive(true);
  std::mt19937_64 rng(9);
  std::mt19937_64 replay = rng;
  std::vector<float> children;
  GDAQD_ASSERT_OK(EmitIsoline(*archive, 6, IsolineParams{}, rng, &children));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::vector<int64_t> first, SelectUniform(*archive, 6, replay));
  GDAQD_ASSERT_OK_AND_ASSIGN(const std::vector<int64_t> second, SelectUniform(*archive, 6, replay));
  std::vector<float> expected(6 * kParams);
  for (int i = 0; i < 6; ++i) {
    IsolineVariation(archive->elite(first[i])->params, archive->elite(second[i])->params,
                     IsolineParams{}, replay,
                     absl::MakeSpan(expected).subspan(i * kParams, kParams));
  }
  EXPECT_EQ(Bits(children), Bits(expected));
  EXPECT_TRUE(rng == replay);
}

// Pins a whole PointMaze-size batch (selection, seeds, every sampler path: 64 children of 4,482
// parameters draw ~290k normals, ~4,000 of them on the slow paths): the FNV-1a hash of the
// children's bits and a few of their values must never change (reproducibility contract,
// gaussian.h; checkpoints resume with these children).
TEST(EmitIsolineTest, PointMazeBatchIsFixedForever) {
  constexpr int kPointMazeParams = 4482;
  constexpr int kCells = 16;
  auto archive = GridArchive::Create(
      {.low = {0.0f}, .high = {1.0f}, .cells_per_dim = {kCells}, .num_params = kPointMazeParams});
  ASSERT_THAT(archive, ::gdaqd::testing::IsOk());
  for (int c = 0; c < kCells; c += 2) {  // half the cells: selection must skip empty ones
    GDAQD_ASSERT_OK(
        (*archive)->Insert({(c + 0.5f) / kCells}, 1.0f, RandomParams(100 + c, kPointMazeParams)));
  }
  std::mt19937_64 rng(2026);
  std::vector<float> children;
  GDAQD_ASSERT_OK(EmitIsoline(**archive, 64, IsolineParams{}, rng, &children));
  ASSERT_EQ(children.size(), 64u * kPointMazeParams);
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (uint32_t bits : Bits(children)) {
    for (int k = 0; k < 4; ++k) {
      hash ^= (bits >> (8 * k)) & 0xff;
      hash *= 0x100000001b3ULL;
    }
  }
  EXPECT_EQ(hash, 0xd5ead520a98ea641ULL);
  EXPECT_THAT(
      Bits({children[0], children[4481], children[4482], children[64 * 4482 - 1]}),
      ::testing::ElementsAreArray<uint32_t>({0x3f823e30, 0x3ed8de42, 0xbf7e670e, 0xbdf15059}));
  EXPECT_EQ(rng(), 0xeb3a217610e4179eULL);  // the caller's RNG ends where it always did
}

}  // namespace
}  // namespace gdaqd::server
