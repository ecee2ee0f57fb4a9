#include "common/config/algorithms/rl_rules.h"

#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::StatusIs;

absl::StatusOr<gdaqd::v1::ExperimentConfig> Parse(const std::string& extra,
                                                  const std::string& algorithm = "TD3") {
  return ParseExperimentConfig(
      absl::StrCat("algorithm: ", algorithm, " env { task: \"point_maze\" } ", extra));
}

constexpr char kBudget[] = "budget { max_env_steps: 100000 } ";

TEST(RlRulesTest, TellsTheRlMethodsApart) {
  for (auto a : {gdaqd::v1::TD3, gdaqd::v1::SAC, gdaqd::v1::DIAYN, gdaqd::v1::SMERL}) {
    EXPECT_TRUE(IsRlAlgorithm(a)) << a;
  }
  EXPECT_FALSE(IsRlAlgorithm(gdaqd::v1::PGA_ME));
  EXPECT_FALSE(IsRlAlgorithm(gdaqd::v1::ES));
}

TEST(RlRulesTest, DefaultsAreQdaxTd3) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto config, Parse(kBudget));
  const gdaqd::v1::RlConfig& rl = config.rl();
  EXPECT_FLOAT_EQ(rl.updates_per_step(), 1.0f);
  EXPECT_EQ(rl.publish_every(), 50);
  EXPECT_EQ(rl.episodes_per_round(), 4);
  EXPECT_EQ(rl.eval_every(), 5);
  EXPECT_EQ(rl.eval_episodes(), 1);
  EXPECT_EQ(rl.warmup_steps(), 1000);
  EXPECT_FLOAT_EQ(rl.exploration_std(), 0.1f);
  EXPECT_EQ(rl.batch_size(), 256);
  EXPECT_FLOAT_EQ(rl.discount(), 0.99f);
  EXPECT_FLOAT_EQ(rl.tau(), 0.005f);
  EXPECT_FLOAT_EQ(rl.critic_lr(), 3e-4f);
  EXPECT_FLOAT_EQ(rl.actor_lr(), 3e-4f);
  EXPECT_FLOAT_EQ(rl.policy_noise(), 0.2f);
  EXPECT_FLOAT_EQ(rl.noise_clip(), 0.5f);
  EXPECT_EQ(rl.policy_delay(), 2);
  EXPECT_EQ(rl.replay_capacity(), 1'000'000);
  EXPECT_EQ(rl.device(), "auto");
  EXPECT_EQ(rl.torch_threads(), 1);
  EXPECT_THAT(rl.critic_hidden_sizes(), ::testing::ElementsAre(256, 256));
  // Episodes are bounded by the steps alone unless the user bounds them.
  EXPECT_EQ(config.budget().max_evaluations(), 100000);
  // An explicit warm-up of 0 stays 0; a user's episode bound stays.
  GDAQD_ASSERT_OK_AND_ASSIGN(
      auto zero, Parse("rl { warmup_steps: 0 } budget { max_env_steps: 10 max_evaluations: 7 }"));
  EXPECT_EQ(zero.rl().warmup_steps(), 0);
  EXPECT_EQ(zero.budget().max_evaluations(), 7);
}

TEST(RlRulesTest, OtherAlgorithmsGetNoRlBlock) {
  GDAQD_ASSERT_OK_AND_ASSIGN(auto me, Parse("budget { max_evaluations: 100 }", "MAP_ELITES"));
  EXPECT_FALSE(me.has_rl());
}

TEST(RlRulesTest, TraitsSayItLearnsFromTransitions) {
  const AlgorithmRules* rules = FindAlgorithmRules(gdaqd::v1::TD3);
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(rules->name, "TD3");
  EXPECT_TRUE(rules->traits.learns);
  EXPECT_TRUE(rules->traits.needs_transitions);
  EXPECT_FALSE(rules->traits.uses_dynamics_model);
}

TEST(RlRulesTest, BudgetInEnvironmentStepsIsRequired) {
  EXPECT_THAT(Parse(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                  StartsWith("budget.max_env_steps: is required for TD3")));
  EXPECT_THAT(Parse("budget { max_env_steps: -5 }"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got -5")));
}

TEST(RlRulesTest, NamesTheOffendingField) {
  const std::pair<const char*, const char*> cases[] = {
      {"rl { updates_per_step: -1 }", "rl.updates_per_step:"},
      {"rl { publish_every: -1 }", "rl.publish_every:"},
      {"rl { episodes_per_round: -2 }", "rl.episodes_per_round:"},
      {"rl { eval_every: -1 }", "rl.eval_every:"},
      {"rl { eval_episodes: -1 }", "rl.eval_episodes:"},
      {"rl { warmup_steps: -1 }", "rl.warmup_steps:"},
      {"rl { exploration_std: 11 }", "rl.exploration_std:"},
      {"rl { batch_size: -1 }", "rl.batch_size:"},
      {"rl { discount: 1.5 }", "rl.discount:"},
      {"rl { tau: 2 }", "rl.tau:"},
      {"rl { critic_lr: -1 }", "rl.critic_lr:"},
      {"rl { actor_lr: 3 }", "rl.actor_lr:"},
      {"rl { policy_noise: -1 }", "rl.policy_noise:"},
      {"rl { noise_clip: -1 }", "rl.noise_clip:"},
      {"rl { policy_delay: -1 }", "rl.policy_delay:"},
      {"rl { replay_capacity: 100 }", "rl.replay_capacity: must be in [rl.batch_size (256)"},
      {"rl { device: \"tpu\" }", "rl.device: must be auto, cpu or cuda"},
      {"rl { torch_threads: -1 }", "rl.torch_threads:"},
      {"rl { critic_hidden_sizes: 0 }", "rl.critic_hidden_sizes"},
  };
  for (const auto& [extra, field] : cases) {
    EXPECT_THAT(Parse(absl::StrCat(kBudget, extra)),
                StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(field)))
        << extra;
  }
}

TEST(RlRulesTest, Td3TrainsADeterministicActorWithoutSkills) {
  EXPECT_THAT(Parse(absl::StrCat(kBudget, "policy { kind: TANH_GAUSSIAN }")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("policy.kind: TANH_GAUSSIAN is not supported by TD3")));
  EXPECT_THAT(Parse(absl::StrCat(kBudget, "policy { num_skills: 3 }")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith("policy.num_skills: must be 0 for TD3")));
  GDAQD_EXPECT_OK(Parse(absl::StrCat(kBudget, "policy { kind: DETERMINISTIC }")).status());
}

TEST(RlRulesTest, PipelinedIsAllowedBecauseTd3Learns) {
  GDAQD_EXPECT_OK(
      Parse(absl::StrCat(kBudget, "scheduler { learning_schedule: PIPELINED }")).status());
}

TEST(RlRulesTest, SacFamilyDefaultsAreQdaxSac) {
  for (const char* name : {"SAC", "DIAYN", "SMERL"}) {
    GDAQD_ASSERT_OK_AND_ASSIGN(auto config, Parse(kBudget, name));
    const gdaqd::v1::RlConfig& rl = config.rl();
    EXPECT_FLOAT_EQ(rl.discount(), 0.97f) << name;
    EXPECT_FLOAT_EQ(rl.updates_per_step(), 0.25f) << name;  // TD3: 1.0
    EXPECT_FLOAT_EQ(rl.alpha_lr(), 3e-4f);
    EXPECT_FLOAT_EQ(rl.initial_alpha(), 1.0f);
    EXPECT_FALSE(rl.has_target_entropy());  // -0.5 * action_dim in the learner
    EXPECT_FLOAT_EQ(rl.reward_scaling(), 1.0f);
    EXPECT_FLOAT_EQ(rl.actor_lr(), 3e-4f);
    EXPECT_EQ(rl.batch_size(), 256);
    // TD3's settings stay unset: the worker samples the policy.
    EXPECT_EQ(rl.exploration_std(), 0);
    EXPECT_EQ(rl.policy_noise(), 0);
    EXPECT_EQ(rl.policy_delay(), 0);
    EXPECT_EQ(config.policy().kind(), gdaqd::v1::PolicyConfig::TANH_GAUSSIAN);
    EXPECT_EQ(config.policy().output_activation(), "identity");
    EXPECT_FLOAT_EQ(config.policy().min_std(), 0.001f);
    const bool skills = std::string(name) != "SAC";
    EXPECT_EQ(config.policy().num_skills(), skills ? 5 : 0);
    EXPECT_EQ(rl.discriminator_hidden_sizes_size(), skills ? 2 : 0);
    EXPECT_FLOAT_EQ(rl.discriminator_lr(), skills ? 3e-4f : 0);
    const bool smerl = std::string(name) == "SMERL";
    EXPECT_FLOAT_EQ(rl.diversity_reward_scale(), smerl ? 1.0f : 0);
    EXPECT_EQ(rl.has_smerl_target(), smerl);
    EXPECT_FLOAT_EQ(rl.smerl_target(), smerl ? 1e3f : 0);
    EXPECT_FLOAT_EQ(rl.smerl_margin(), smerl ? 1e2f : 0);
  }
  // Set values stay, a negative SMERL target (point_maze's returns) and a zero margin included.
  GDAQD_ASSERT_OK_AND_ASSIGN(auto smerl,
                             Parse(absl::StrCat(kBudget,
                                                "rl { smerl_target: -150 smerl_margin: 0 "
                                                "discount: 0.95 } policy { num_skills: 3 }"),
                                   "SMERL"));
  EXPECT_FLOAT_EQ(smerl.rl().smerl_target(), -150);
  EXPECT_EQ(smerl.rl().smerl_margin(), 0);
  EXPECT_FLOAT_EQ(smerl.rl().discount(), 0.95f);
  EXPECT_EQ(smerl.policy().num_skills(), 3);
}

TEST(RlRulesTest, SacFamilyRulesAreRegistered) {
  for (auto id : {gdaqd::v1::SAC, gdaqd::v1::DIAYN, gdaqd::v1::SMERL}) {
    const AlgorithmRules* rules = FindAlgorithmRules(id);
    ASSERT_NE(rules, nullptr) << id;
    EXPECT_EQ(rules->name, gdaqd::v1::Algorithm_Name(id));
    EXPECT_TRUE(rules->traits.learns);
    EXPECT_TRUE(rules->traits.needs_transitions);
  }
}

TEST(RlRulesTest, SacFamilyNamesTheOffendingField) {
  const std::tuple<const char*, const char*, const char*> cases[] = {
      {"SAC", "rl { alpha_lr: 2 }", "rl.alpha_lr:"},
      {"SAC", "rl { initial_alpha: -1 }", "rl.initial_alpha:"},
      {"SAC", "rl { target_entropy: nan }", "rl.target_entropy:"},
      {"SAC", "rl { reward_scaling: -1 }", "rl.reward_scaling:"},
      {"SAC", "rl { exploration_std: 0.1 }", "rl.exploration_std: must be unset for SAC"},
      {"SAC", "rl { policy_noise: 0.2 }", "rl.policy_noise: must be unset for SAC"},
      {"SAC", "rl { noise_clip: 0.5 }", "rl.noise_clip: must be unset for SAC"},
      {"SAC", "rl { policy_delay: 2 }", "rl.policy_delay: must be unset for SAC"},
      {"SAC", "rl { discriminator_lr: 0.1 }", "rl.discriminator_lr: must be unset for SAC"},
      {"SAC", "rl { discriminator_hidden_sizes: 8 }", "rl.discriminator_hidden_sizes: must be"},
      {"SAC", "policy { num_skills: 3 }", "policy.num_skills: must be 0 for SAC"},
      {"SAC", "policy { kind: DETERMINISTIC }",
       "policy.kind: DETERMINISTIC is not supported by SAC"},
      {"SAC", "policy { hidden_activation: \"tanh\" }", "policy.hidden_activation: must be relu"},
      {"DIAYN", "rl { discriminator_lr: -1 }", "rl.discriminator_lr:"},
      {"DIAYN", "rl { discriminator_hidden_sizes: 0 }", "rl.discriminator_hidden_sizes"},
      {"DIAYN", "rl { smerl_target: 10 }", "rl.smerl_target: must be unset for DIAYN"},
      {"DIAYN", "policy { num_skills: 1 }", "policy.num_skills: must be >= 2 for DIAYN"},
      {"SMERL", "rl { diversity_reward_scale: -1 }", "rl.diversity_reward_scale:"},
      {"SMERL", "rl { smerl_margin: -1 }", "rl.smerl_margin:"},
      {"SMERL", "rl { smerl_target: inf }", "rl.smerl_target:"},
      {"TD3", "rl { alpha_lr: 0.1 }", "rl.alpha_lr: must be unset for TD3"},
      {"TD3", "rl { target_entropy: -1 }", "rl.target_entropy: must be unset for TD3"},
      {"TD3", "rl { diversity_reward_scale: 2 }", "rl.diversity_reward_scale: must be unset"},
  };
  for (const auto& [algorithm, extra, field] : cases) {
    EXPECT_THAT(Parse(absl::StrCat(kBudget, extra), algorithm),
                StatusIs(absl::StatusCode::kInvalidArgument, StartsWith(field)))
        << algorithm << " " << extra;
  }
}

}  // namespace
}  // namespace gdaqd::common
