// What every algorithm made by MakeAlgorithm guarantees to its runner: exceptions come back as
// statuses, the interrupt flag reaches the constructor's long step (CVT k-means), and learning
// errors name their generation.
#include "server/algorithms/algorithm.h"

#include <cmath>
#include <functional>
#include <memory>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/map_elites.h"
#include "server/models/errors.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

gdaqd::v1::ExperimentConfig Config(const std::string& text) {
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config = common::ParseExperimentConfig(text);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : gdaqd::v1::ExperimentConfig();
}

// A real MAP-Elites whose Ask, Tell, SaveCheckpoint and RestoreCheckpoint call `thrower` first.
class ThrowingAlgorithm final : public QdAlgorithm {
 public:
  ThrowingAlgorithm(std::unique_ptr<QdAlgorithm> real, std::function<void()> thrower)
      : real_(std::move(real)), thrower_(std::move(thrower)) {}
  absl::Status Ask(int64_t count, std::vector<float>* params) override {
    thrower_();
    return real_->Ask(count, params);
  }
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override {
    thrower_();
    return real_->Tell(params, outcomes);
  }
  bool needs_transitions() const override { return false; }
  absl::Status SaveCheckpoint(std::ostream& out) const override {
    thrower_();
    return real_->SaveCheckpoint(out);
  }
  absl::Status RestoreCheckpoint(std::istream& in) override {
    thrower_();
    return real_->RestoreCheckpoint(in);
  }
  const ArchiveInterface& archive() const override { return real_->archive(); }
  const common::TaskSpec& spec() const override { return real_->spec(); }
  const common::MlpLayout& layout() const override { return real_->layout(); }

 private:
  std::unique_ptr<QdAlgorithm> real_;
  std::function<void()> thrower_;
};

constexpr char kTinyMe[] = R"pb(
  env { task: "point_maze" episode_length: 30 }
  policy { hidden_sizes: [ 8 ] }
  archive { cells_per_dim: [ 10, 10 ] }
  budget { max_evaluations: 100 }
)pb";

std::unique_ptr<QdAlgorithm> GuardedThrower(std::function<void()> thrower) {
  absl::StatusOr<std::unique_ptr<MapElites>> real = MapElites::Create(Config(kTinyMe));
  EXPECT_TRUE(real.ok()) << real.status();
  return GuardExceptions(std::make_unique<ThrowingAlgorithm>(*std::move(real), thrower));
}

TEST(GuardExceptionsTest, AllocationFailuresBecomeResourceExhausted) {
  std::unique_ptr<QdAlgorithm> algo = GuardedThrower([] { throw std::bad_alloc(); });
  std::vector<float> params;
  EXPECT_THAT(algo->Ask(10, &params),
              StatusIs(absl::StatusCode::kResourceExhausted, "out of memory while Ask"));
  EXPECT_THAT(algo->Tell({}, {}),
              StatusIs(absl::StatusCode::kResourceExhausted, "out of memory while Tell"));
  std::stringstream stream;
  EXPECT_THAT(algo->SaveCheckpoint(stream),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("SaveCheckpoint")));
  EXPECT_THAT(algo->RestoreCheckpoint(stream),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("RestoreCheckpoint")));
  // A container asked for more than it can address is the same condition.
  algo =
      GuardedThrower([] { std::vector<double>().reserve(std::vector<double>().max_size() + 1); });
  EXPECT_THAT(algo->Ask(10, &params),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("out of memory while Ask")));
}

TEST(GuardExceptionsTest, OtherExceptionsBecomeInternalWithTheirFirstLine) {
  std::unique_ptr<QdAlgorithm> algo =
      GuardedThrower([] { throw std::runtime_error("broken\nbacktrace frame 0"); });
  std::vector<float> params;
  EXPECT_THAT(algo->Ask(10, &params),
              StatusIs(absl::StatusCode::kInternal, "exception in Ask: broken"));
  algo = GuardedThrower([] { throw 42; });
  EXPECT_THAT(algo->Tell({}, {}),
              StatusIs(absl::StatusCode::kInternal, "unknown exception in Tell"));
}

TEST(GuardExceptionsTest, ForwardsWhenNothingThrows) {
  std::unique_ptr<QdAlgorithm> algo = GuardedThrower([] {});
  std::vector<float> params;
  GDAQD_ASSERT_OK(algo->Ask(3, &params));
  EXPECT_EQ(static_cast<int64_t>(params.size()), 3 * algo->layout().num_params());
  EXPECT_EQ(algo->archive().num_cells(), 100);
}

// CVT with 1e5 centroids over 3e6 samples (the issue's probe: > 20 s of k-means).
constexpr char kHugeCvt[] = R"pb(
  algorithm: %s
  env { task: "point_maze" episode_length: 30 }
  policy { hidden_sizes: [ 8 ] }
  archive { type: CVT num_centroids: 100000 cvt_samples: 3000000 }
  budget { max_evaluations: 100 }
  pga { device: "cpu" }
)pb";

TEST(MakeAlgorithmTest, InterruptStopsCvtConstructionOfEveryAlgorithm) {
  for (const char* algorithm : {"MAP_ELITES", "PGA_ME", "GDA_QD"}) {
    SCOPED_TRACE(algorithm);
    std::string text = kHugeCvt;
    text.replace(text.find("%s"), 2, algorithm);
    CancelFlag interrupt{true};
    const absl::Time start = absl::Now();
    EXPECT_THAT(MakeAlgorithm(Config(text), &interrupt),
                StatusIs(absl::StatusCode::kCancelled, "CVT construction interrupted"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
}

TEST(AtGenerationTest, NamesTheGenerationOfNonFiniteLossesOnly) {
  EXPECT_THAT(
      AtGeneration(models::NonFiniteLossError("critic", std::nan(""), "in critic steps 1-5"), 12),
      StatusIs(absl::StatusCode::kInternal,
               "critic loss became non-finite (nan) in critic steps 1-5 at generation 12; "
               "the replay buffer may hold extreme transitions"));
  EXPECT_THAT(AtGeneration(models::InterruptedError("TD3 training"), 3),
              StatusIs(absl::StatusCode::kCancelled, "TD3 training interrupted"));
  EXPECT_THAT(AtGeneration(absl::InternalError("LibTorch failed"), 3),
              StatusIs(absl::StatusCode::kInternal, "LibTorch failed"));
  GDAQD_EXPECT_OK(AtGeneration(absl::OkStatus(), 3));
}

}  // namespace
}  // namespace gdaqd::server
