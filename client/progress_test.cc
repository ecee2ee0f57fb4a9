#include "client/progress.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gdaqd::client {
namespace {

using ::testing::HasSubstr;

TEST(WithThousandsTest, GroupsDigitsByThree) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(1234567), "1,234,567");
  EXPECT_EQ(WithThousands(-100000), "-100,000");
}

TEST(FormatProgressTest, ShowsBarCountersAndMetrics) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::RUNNING);
  status.set_connected_workers(2);
  status.mutable_config()->mutable_budget()->set_max_evaluations(100000);
  auto* p = status.mutable_progress();
  p->set_iteration(400);
  p->set_evaluations(40000);
  p->set_qd_score_pct(31.25);
  p->set_coverage_pct(52.1);
  p->set_max_fitness(-12.345);
  p->set_evaluations_per_s(8200);
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("[####------]  40%"));
  EXPECT_THAT(line, HasSubstr("evals 40,000/100,000"));
  EXPECT_THAT(line, HasSubstr("QD 31.2%"));
  EXPECT_THAT(line, HasSubstr("cov 52.1%"));
  EXPECT_THAT(line, HasSubstr("max -12.35"));
  EXPECT_THAT(line, HasSubstr("8,200 ev/s | 2 workers"));
}

TEST(FormatProgressTest, ShowsImaginationAndLossesOnlyWhenThereAreModels) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::RUNNING);
  auto* p = status.mutable_progress();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  p->set_model_holdout_loss(nan);
  p->set_critic_loss(nan);
  std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, ::testing::Not(HasSubstr("imagined")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("nll")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("critic")));
  p->set_imagined_evaluations(123456);
  p->set_model_holdout_loss(-2.5);
  p->set_critic_loss(0.0123);
  line = FormatProgress(status, 10);
  EXPECT_THAT(line, HasSubstr("imagined 123,456"));
  EXPECT_THAT(line, HasSubstr("model nll -2.50"));
  EXPECT_THAT(line, HasSubstr("critic 0.0123"));
}

TEST(FormatProgressTest, EmptyArchiveHasNoMaxAndFinalStateIsNamed) {
  gdaqd::v1::ExperimentStatus status;
  status.set_state(gdaqd::v1::CANCELLED);
  status.mutable_progress()->set_max_fitness(-std::numeric_limits<double>::infinity());
  const std::string line = FormatProgress(status, 10);
  EXPECT_THAT(line, ::testing::Not(HasSubstr("max")));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("inf")));
  EXPECT_THAT(line, HasSubstr("CANCELLED"));
}

}  // namespace
}  // namespace gdaqd::client
