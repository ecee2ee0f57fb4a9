#include "bench/study.h"

#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/results/svg_plots.h"
#include "common/config/algorithm_rules.h"
#include "common/config/algorithms/rl_rules.h"
#include "common/config/config.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace gdaqd::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

StudyRun Cell(const std::string& task, const std::string& algorithm, int64_t seed,
              const std::string& schedule = "") {
  StudyRun run;
  run.task = task;
  run.algorithm = algorithm;
  run.schedule = schedule;
  run.seed = seed;
  run.budget = 1000;
  return run;
}

TEST(StudyRunConfigTest, NamesTheRunAndSetsItsCell) {
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      StudyRunConfig(Cell("ant_trap", "GDA_QD", 2, "PIPELINED"), "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name(), "ant_trap_gda_qd_pipelined_s2");
  EXPECT_EQ(config->algorithm(), gdaqd::v1::GDA_QD);
  EXPECT_EQ(config->seed(), 2u);
  EXPECT_EQ(config->env().task(), "ant_trap");
  EXPECT_EQ(config->budget().max_evaluations(), 1000);
  EXPECT_EQ(config->scheduler().learning_schedule(), gdaqd::v1::SchedulerConfig::PIPELINED);
  EXPECT_EQ(RunName(Cell("point_maze", "MAP_ELITES", 0)), "point_maze_map_elites_s0");
  EXPECT_EQ(GroupLabel(Cell("ant_trap", "GDA_QD", 0, "PIPELINED")), "GDA_QD_PIPELINED");
}

TEST(StudyRunConfigTest, ExtraMergesIntoSectionsTheBaseAlreadyHas) {
  const std::string extra = "env { action_map: CLIP_1_DIVIDE_10 } model { retrain_every: 5 }";
  // What bench_reproduce did before: one text with env twice, refused.
  EXPECT_FALSE(common::ParseExperimentConfig(
                   absl::StrCat("name: \"x\" env { task: \"point_maze\" } budget { "
                                "max_evaluations: 1000 } ",
                                extra))
                   .ok());
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config =
      StudyRunConfig(Cell("point_maze", "DA_QD_EXT", 0), extra);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->env().task(), "point_maze");
  EXPECT_EQ(config->env().action_map(), gdaqd::v1::EnvConfig::CLIP_1_DIVIDE_10);
  EXPECT_EQ(config->model().retrain_every(), 5);
  EXPECT_EQ(config->name(), "point_maze_da_qd_ext_s0");
  // Defaults were applied after the merge.
  EXPECT_EQ(config->emitter().batch_size(), common::kDefaultBatchSize);
  // A later value wins over the base's.
  config = StudyRunConfig(Cell("point_maze", "MAP_ELITES", 0), "seed: 7");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->seed(), 7u);
}

TEST(StudyRunConfigTest, RefusesBadNamesTextAndConfigs) {
  EXPECT_EQ(StudyRunConfig(Cell("point_maze", "NOPE", 0), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StudyRunConfig(Cell("ant_trap", "GDA_QD", 0, "SOMETIMES"), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status parse = StudyRunConfig(Cell("point_maze", "GDA_QD", 0), "env {").status();
  EXPECT_EQ(parse.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(parse.message(), HasSubstr("line 1"));
  // Validation runs on the merged config: the ants take no action map.
  const absl::Status invalid =
      StudyRunConfig(Cell("ant_trap", "GDA_QD", 0), "env { action_map: CLIP_0_1 }").status();
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid.message(), HasSubstr("action_map"));
}

// StudyRunConfig as it was before the RL rows (commit 8c15009), for the configs that must not
// change.
absl::StatusOr<gdaqd::v1::ExperimentConfig> ConfigBeforeRlRows(const StudyRun& run,
                                                               const std::string& extra) {
  gdaqd::v1::ExperimentConfig config;
  config.set_name(RunName(run));
  gdaqd::v1::Algorithm algorithm;
  if (!gdaqd::v1::Algorithm_Parse(run.algorithm, &algorithm)) {
    return absl::InvalidArgumentError("unknown algorithm");
  }
  config.set_algorithm(algorithm);
  config.set_seed(run.seed);
  config.mutable_env()->set_task(run.task);
  config.mutable_budget()->set_max_evaluations(run.budget);
  if (!run.schedule.empty()) {
    gdaqd::v1::SchedulerConfig::LearningSchedule schedule;
    if (!gdaqd::v1::SchedulerConfig::LearningSchedule_Parse(run.schedule, &schedule)) {
      return absl::InvalidArgumentError("unknown schedule");
    }
    config.mutable_scheduler()->set_learning_schedule(schedule);
  }
  if (!google::protobuf::TextFormat::MergeFromString(extra, &config)) {
    return absl::InvalidArgumentError("extra");
  }
  common::ApplyDefaults(&config);
  if (absl::Status valid = common::ValidateExperimentConfig(config); !valid.ok()) return valid;
  return config;
}

std::string Text(const gdaqd::v1::ExperimentConfig& config) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  return text;
}

TEST(StudyRunConfigTest, QdAndEsConfigsAreByteForByteThoseOfBefore) {
  int compared = 0;
  for (const common::AlgorithmRules* rules : common::AllAlgorithmRules()) {
    if (common::IsRlAlgorithm(rules->id)) continue;
    for (const char* task : {"point_maze", "ant_trap", "ant_maze"}) {
      for (const char* extra : {"", "model { retrain_every: 5 }"}) {
        for (const char* schedule : {"", "PIPELINED"}) {
          StudyRun run = Cell(task, rules->name, 3, schedule);
          run.budget = 20000;
          absl::StatusOr<gdaqd::v1::ExperimentConfig> before = ConfigBeforeRlRows(run, extra);
          absl::StatusOr<gdaqd::v1::ExperimentConfig> now = StudyRunConfig(run, extra);
          ASSERT_EQ(before.ok(), now.ok())
              << RunName(run) << " " << extra << ": " << before.status() << " / " << now.status();
          if (!now.ok()) continue;
          EXPECT_FALSE(IsRlRun(run));
          EXPECT_EQ(Text(*now), Text(*before)) << RunName(run) << " " << extra;
          EXPECT_EQ(now->SerializeAsString(), before->SerializeAsString());
          ++compared;
        }
      }
    }
  }
  // The main grid's 4 and the ES grid's methods, on 3 tasks, with and without extra; arms of
  // methods that learn.
  EXPECT_GE(compared, 9 * 3 * 2);
}

TEST(StudyRunConfigTest, RlRunsGetTheirStepBudgetActorAndSmerlGate) {
  for (const char* algorithm : {"TD3", "SAC", "DIAYN", "SMERL"}) {
    for (const char* task : {"point_maze", "ant_trap", "ant_maze"}) {
      StudyRun run = Cell(task, algorithm, 1);
      run.budget = 100000;
      ASSERT_TRUE(IsRlRun(run));
      absl::StatusOr<gdaqd::v1::ExperimentConfig> config = StudyRunConfig(run, "");
      ASSERT_TRUE(config.ok()) << RunName(run) << ": " << config.status();
      EXPECT_EQ(config->budget().max_env_steps(), 100000);
      // Unset by the study; ApplyDefaults bounds episodes by the steps.
      EXPECT_EQ(config->budget().max_evaluations(), 100000);
      EXPECT_THAT(config->policy().hidden_sizes(), ElementsAre(256, 256));
      EXPECT_EQ(config->policy().hidden_activation(), "relu");
      EXPECT_EQ(config->rl().has_smerl_target(), std::string(algorithm) == "SMERL");
    }
  }
  auto smerl = [](const std::string& task) {
    StudyRun run = Cell(task, "SMERL", 0);
    run.budget = 100000;
    return StudyRunConfig(run, "");
  };
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config = smerl("point_maze");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rl().smerl_target(), -150.0f);
  EXPECT_EQ(config->rl().smerl_margin(), 50.0f);
  EXPECT_EQ(config->rl().diversity_reward_scale(), common::kDefaultSmerlDiversityRewardScale);
  config = smerl("ant_trap");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rl().smerl_target(), 800.0f);
  EXPECT_EQ(config->rl().smerl_margin(), 800.0f);
  EXPECT_EQ(config->rl().diversity_reward_scale(), 2.0f);
  config = smerl("ant_maze");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rl().smerl_target(), -16500.0f);
  EXPECT_EQ(config->rl().smerl_margin(), 1000.0f);
  EXPECT_EQ(config->rl().diversity_reward_scale(), common::kDefaultSmerlDiversityRewardScale);
  // Extra still wins, and a task without a gate is refused rather than run with QDax's default.
  StudyRun td3 = Cell("point_maze", "TD3", 0);
  config = StudyRunConfig(td3, "rl { warmup_steps: 0 }");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rl().warmup_steps(), 0);
  EXPECT_EQ(config->budget().max_env_steps(), 1000);
  const absl::Status no_gate = smerl("humanoid_maze").status();
  EXPECT_EQ(no_gate.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_gate.message(), HasSubstr("addendum 2"));
}

TEST(PlanStudyTest, RlGridIsAddendumTwosThirtySixRuns) {
  // bench_reproduce --out docs/reproduction/study-rl --algorithms=TD3,SAC,DIAYN,SMERL
  //   --seeds=0,1,2 --arms=
  absl::StatusOr<std::vector<StudyRun>> grid =
      PlanStudy({"docs/reproduction/study-rl", kDefaultStudyTasks, "TD3,SAC,DIAYN,SMERL", "0,1,2",
                 kDefaultStudyBudgets, kDefaultStudyRlBudgets, ""});
  ASSERT_TRUE(grid.ok()) << grid.status();
  ASSERT_EQ(grid->size(), 36u);
  std::vector<std::string> names;
  for (const StudyRun& run : *grid) {
    EXPECT_TRUE(IsRlRun(run)) << RunName(run);
    EXPECT_EQ(run.budget, 100000) << RunName(run);
    EXPECT_TRUE(run.schedule.empty());
    EXPECT_EQ(run.dir, "docs/reproduction/study-rl/runs/" + RunName(run));
    names.push_back(RunName(run));
  }
  int i = 0;
  for (const char* task : {"point_maze", "ant_trap", "ant_maze"}) {
    for (const char* seed : {"0", "1", "2"}) {
      for (const char* algorithm : {"td3", "sac", "diayn", "smerl"}) {
        EXPECT_EQ(names[i++], absl::StrCat(task, "_", algorithm, "_s", seed));
      }
    }
  }
}

TEST(PlanStudyTest, MainGridIsUnchangedAndBudgetsAreByKind) {
  absl::StatusOr<std::vector<StudyRun>> grid =
      PlanStudy({"out", kDefaultStudyTasks, kDefaultStudyAlgorithms, kDefaultStudySeeds,
                 kDefaultStudyBudgets, kDefaultStudyRlBudgets, kDefaultStudyArms});
  ASSERT_TRUE(grid.ok()) << grid.status();
  ASSERT_EQ(grid->size(), 3u * 5 * 4 + 3);
  EXPECT_EQ(RunName((*grid)[0]), "point_maze_map_elites_s0");
  EXPECT_EQ((*grid)[0].budget, 30000);
  EXPECT_EQ(RunName((*grid)[5]), "point_maze_pga_me_s1");
  EXPECT_EQ((*grid)[20].budget, 20000);
  EXPECT_EQ((*grid)[40].budget, 10000);
  EXPECT_EQ(RunName((*grid)[60]), "ant_trap_gda_qd_pipelined_s0");
  EXPECT_EQ((*grid)[62].budget, 20000);
  for (const StudyRun& run : *grid) EXPECT_FALSE(IsRlRun(run));
  // A mixed grid takes each run's budget from its kind; an RL-only grid needs no --budgets.
  grid = PlanStudy(
      {"o", "point_maze", "MAP_ELITES,SAC", "0", "point_maze=300", "point_maze=5000", ""});
  ASSERT_TRUE(grid.ok()) << grid.status();
  ASSERT_EQ(grid->size(), 2u);
  EXPECT_EQ((*grid)[0].budget, 300);
  EXPECT_EQ((*grid)[1].budget, 5000);
  EXPECT_TRUE(PlanStudy({"o", "point_maze", "TD3", "0", "", "point_maze=5000", ""}).ok());
  const absl::Status no_steps =
      PlanStudy({"o", "ant_maze", "TD3", "0", kDefaultStudyBudgets, "point_maze=1", ""}).status();
  EXPECT_EQ(no_steps.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_steps.message(), HasSubstr("--rl_budgets has no entry for ant_maze"));
  EXPECT_FALSE(PlanStudy({"o", "point_maze", "TD3", "0", "", "point_maze=0", ""}).ok());
  EXPECT_FALSE(PlanStudy({"o", "point_maze", "TD3", "x", "", "point_maze=9", ""}).ok());
  EXPECT_FALSE(
      PlanStudy({"o", "point_maze", "TD3", "0", "", "point_maze=9", "point_maze:TD3"}).ok());
}

TEST(PlanStudyTest, SubmitOnlyPicksRunsByNamePrefixAndNamesABadEntry) {
  absl::StatusOr<std::vector<StudyRun>> grid =
      PlanStudy({"out", kDefaultStudyTasks, kDefaultStudyAlgorithms, kDefaultStudySeeds,
                 kDefaultStudyBudgets, kDefaultStudyRlBudgets, kDefaultStudyArms});
  ASSERT_TRUE(grid.ok()) << grid.status();
  absl::StatusOr<std::vector<std::string>> only =
      ParseSubmitOnly("ant_trap_map_elites, ant_trap_pga_me_s1,", *grid);
  ASSERT_TRUE(only.ok()) << only.status();
  EXPECT_THAT(*only, ElementsAre("ant_trap_map_elites", "ant_trap_pga_me_s1"));
  std::vector<std::string> allowed;
  for (const StudyRun& run : *grid) {
    if (SubmitAllowed(run, *only)) allowed.push_back(RunName(run));
  }
  EXPECT_THAT(allowed, ElementsAre("ant_trap_map_elites_s0", "ant_trap_map_elites_s1",
                                   "ant_trap_pga_me_s1", "ant_trap_map_elites_s2",
                                   "ant_trap_map_elites_s3", "ant_trap_map_elites_s4"));
  // Empty allows every run; a prefix of no run is refused with its text.
  absl::StatusOr<std::vector<std::string>> all = ParseSubmitOnly("", *grid);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  for (const StudyRun& run : *grid) EXPECT_TRUE(SubmitAllowed(run, *all));
  const absl::Status bad = ParseSubmitOnly("ant_trap_me", *grid).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("'ant_trap_me'"));
}

TEST(StudyRunTest, EtaUsesThisSittingsRateOnceItHasOne) {
  // A resumed run: 8,000 of 10,000 in 4,000 s over earlier sittings (2 per second), 300 more in
  // the 60 s of this sitting (5 per second): the 2,000 left take 400 s at this sitting's rate.
  EXPECT_DOUBLE_EQ(RunEtaSeconds(10000, 8000, 4000, 300, 60), 400);
  // Under 30 s of this sitting, or no progress in it yet: the run's own average.
  EXPECT_DOUBLE_EQ(RunEtaSeconds(10000, 8000, 4000, 300, 20), 1000);
  EXPECT_DOUBLE_EQ(RunEtaSeconds(10000, 8000, 4000, 0, 600), 1000);
  EXPECT_EQ(RunEtaSeconds(10000, 0, 0, 0, 600), -1);         // nothing to go by
  EXPECT_EQ(RunEtaSeconds(20000, 5, 9, 0, 9), -1);           // too early for its average
  // A new run's first batch in this sitting's first 32 s: too early for a rate (it once read
  // as 2 days); from 5 % of the budget on, this sitting's rate.
  EXPECT_EQ(RunEtaSeconds(10000, 5, 32, 5, 32), -1);
  EXPECT_EQ(RunEtaSeconds(10000, 499, 100, 499, 100), -1);
  EXPECT_DOUBLE_EQ(RunEtaSeconds(10000, 500, 100, 500, 100), 1900);
  EXPECT_EQ(RunEtaSeconds(10000, 10000, 4000, 300, 60), -1);  // budget spent
  EXPECT_EQ(RunEtaSeconds(100000, 100240, 4000, 300, 60), -1);  // an RL round ran past it
}

Sitting SittingOf(absl::Time started, absl::Duration length, std::vector<std::string> beside) {
  Sitting s;
  s.started = started;
  s.ended = started + length;
  s.beside = std::move(beside);
  return s;
}

// Protocol, amendment to Analysis 4: an arm run and its SYNCHRONOUS counterpart ran together.
TEST(StudyRunTest, SideBySideNeedsTheSameSittingsAndNoThirdRun) {
  StudyRun sync = Cell("ant_trap", "GDA_QD", 0);
  StudyRun arm = Cell("ant_trap", "GDA_QD", 0, "PIPELINED");
  const std::string s_name = RunName(sync), a_name = RunName(arm);
  const absl::Time t0 = absl::FromUnixSeconds(1764612000);
  EXPECT_FALSE(RanSideBySide(arm, sync));  // no sittings recorded
  // Two sittings together (started 30 s and 10 s apart); the arm finished in the second, and
  // SYNCHRONOUS then ran on alone, also in a third sitting.
  arm.sittings = {SittingOf(t0, absl::Hours(3), {s_name}),
                  SittingOf(t0 + absl::Hours(20), absl::Hours(1), {s_name})};
  sync.sittings = {SittingOf(t0 + absl::Seconds(30), absl::Hours(3), {a_name}),
                   SittingOf(t0 + absl::Hours(20) + absl::Seconds(10), absl::Hours(2), {a_name}),
                   SittingOf(t0 + absl::Hours(40), absl::Hours(1), {})};
  EXPECT_TRUE(RanSideBySide(arm, sync));
  EXPECT_TRUE(RanSideBySide(sync, arm));
  // A third run beside one of them for a while.
  sync.sittings[1].beside = {"ant_trap_da_qd_ext_s0", a_name};
  EXPECT_FALSE(RanSideBySide(arm, sync));
  sync.sittings[1].beside = {a_name};
  // A sitting of the arm without SYNCHRONOUS, before SYNCHRONOUS finished.
  arm.sittings.insert(arm.sittings.begin() + 1,
                      SittingOf(t0 + absl::Hours(10), absl::Hours(1), {}));
  EXPECT_FALSE(RanSideBySide(arm, sync));
  arm.sittings.erase(arm.sittings.begin() + 1);
  // Started more than two minutes apart.
  sync.sittings[0].started = t0 + absl::Minutes(5);
  EXPECT_FALSE(RanSideBySide(arm, sync));
  // One after the other.
  arm.sittings = {SittingOf(t0, absl::Hours(3), {})};
  sync.sittings = {SittingOf(t0 + absl::Hours(4), absl::Hours(3), {})};
  EXPECT_FALSE(RanSideBySide(arm, sync));
  EXPECT_FALSE(RanSideBySide(sync, arm));
}

// Protocol, amendment to Analysis 4: a schedule-arm pair is submitted together and runs alone.
TEST(StudyRunTest, ArmPairsAreSubmittedTogetherAndRunAlone) {
  std::vector<StudyRun> runs = {
      Cell("ant_trap", "PGA_ME", 1),                // 0
      Cell("ant_trap", "GDA_QD", 0),                // 1: base of the pair
      Cell("ant_trap", "GDA_QD", 3),                // 2: no arm run
      Cell("ant_trap", "GDA_QD", 0, "PIPELINED"),  // 3: the arm run
      Cell("ant_trap", "PGA_ME", 2),                // 4
  };
  EXPECT_EQ(ArmPartner(runs, 1), 3);
  EXPECT_EQ(ArmPartner(runs, 3), 1);
  EXPECT_EQ(ArmPartner(runs, 2), -1);
  EXPECT_EQ(ArmPartner(runs, 0), -1);
  using V = std::vector<size_t>;
  auto submit = [&](V queue, V active, int parallel) {
    return PlanSubmissions(runs, queue, active, parallel).submit;
  };
  EXPECT_EQ(submit({0, 2, 4}, {}, 2), (V{0, 2}));  // no pair: the queue's front
  EXPECT_EQ(submit({0, 2, 4}, {2}, 2), (V{0}));
  EXPECT_EQ(submit({1, 0, 3}, {}, 2), (V{1, 3}));   // the pair together, in an empty runner
  EXPECT_EQ(submit({1, 0, 3}, {}, 4), (V{1, 3}));   // ... and nothing beside it
  EXPECT_EQ(submit({1, 3}, {0}, 2), V{});            // it waits for the runner to empty
  EXPECT_EQ(submit({0, 1, 3}, {}, 2), (V{0}));      // grid order: a run before the pair first
  EXPECT_EQ(submit({0, 4}, {3}, 2), V{});            // nothing beside an active pair member
  EXPECT_EQ(submit({0, 4}, {1}, 3), V{});
  // The partner is not queued (e.g. --submit_only names one of the pair): held.
  Submissions one = PlanSubmissions(runs, {1, 0}, {}, 2);
  EXPECT_EQ(one.submit, (V{0}));
  EXPECT_EQ(one.held, (V{1}));
  // One run at a time cannot run a pair.
  Submissions serial = PlanSubmissions(runs, {1, 3, 0}, {}, 1);
  EXPECT_EQ(serial.submit, (V{0}));
  EXPECT_EQ(serial.held, (V{1, 3}));
  // Its partner finished without it: it runs alone, in an empty runner.
  runs[3].finished = true;
  EXPECT_EQ(submit({1, 0}, {}, 2), (V{1}));
  EXPECT_EQ(submit({1, 0}, {4}, 2), V{});
  EXPECT_EQ(submit({0, 1}, {}, 2), (V{0}));
}

TEST(StudyRunTest, RlBudgetIsEnvironmentSteps) {
  StudyRun td3 = Cell("point_maze", "TD3", 0);
  StudyRun me = Cell("point_maze", "MAP_ELITES", 0);
  gdaqd::v1::ProgressSnapshot progress;
  progress.set_evaluations(1000);
  EXPECT_EQ(BudgetUsed(me, progress), 1000);
  EXPECT_EQ(BudgetUsed(td3, progress), 0);  // no env_steps metric yet
  EXPECT_TRUE(BudgetReached(me, progress));
  EXPECT_FALSE(BudgetReached(td3, progress));
  gdaqd::v1::Metric* steps = progress.add_metrics();
  steps->set_name("env_steps");
  steps->set_value(999);
  EXPECT_FALSE(BudgetReached(td3, progress));
  steps->set_value(1000);
  EXPECT_TRUE(BudgetReached(td3, progress));
  steps->set_value(1240);  // the round that reached the budget ran past it
  EXPECT_TRUE(BudgetReached(td3, progress));
  EXPECT_EQ(BudgetUsed(td3, progress), 1240);
  progress.set_evaluations(1001);
  EXPECT_FALSE(BudgetReached(me, progress));
  absl::StatusOr<gdaqd::v1::ExperimentConfig> config = StudyRunConfig(td3, "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(SameRun(td3, *config));
  td3.budget = 2000;
  EXPECT_FALSE(SameRun(td3, *config));
  config = StudyRunConfig(me, "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(SameRun(me, *config));
  me.seed = 1;
  EXPECT_FALSE(SameRun(me, *config));
}

TEST(StudyRunTest, WarnsOfLiveExperimentsTheRunnerWillNotFollow) {
  std::vector<StudyRun> runs = {Cell("ant_trap", "GDA_QD", 0), Cell("ant_trap", "ES", 1),
                                Cell("ant_trap", "PGA_ME", 2)};
  runs[1].finished = true;
  auto experiment = [&](const std::string& id, const StudyRun& run,
                        gdaqd::v1::ExperimentState state) {
    gdaqd::v1::ExperimentStatus e;
    e.set_id(id);
    absl::StatusOr<gdaqd::v1::ExperimentConfig> config = StudyRunConfig(run, "");
    EXPECT_TRUE(config.ok()) << config.status();
    *e.mutable_config() = *config;
    e.set_state(state);
    return e;
  };
  std::vector<gdaqd::v1::ExperimentStatus> experiments = {
      experiment("exp-1", runs[0], gdaqd::v1::RUNNING),    // followed: no warning
      experiment("exp-2", runs[1], gdaqd::v1::RUNNING),    // its run has finished
      experiment("exp-3", runs[1], gdaqd::v1::SUCCEEDED),  // not live: no warning
      experiment("exp-4", Cell("point_maze", "ES", 7), gdaqd::v1::PENDING),  // no run of it
  };
  StudyRun other_budget = runs[2];
  other_budget.budget = 500;
  experiments.push_back(experiment("exp-5", other_budget, gdaqd::v1::RUNNING));
  experiments.push_back(experiment("exp-6", Cell("ant_trap", "MAP_ELITES", 3),
                                   gdaqd::v1::CANCELLED));
  std::vector<std::string> warnings = LiveExperimentWarnings(runs, experiments);
  ASSERT_EQ(warnings.size(), 3u) << absl::StrJoin(warnings, "\n");
  EXPECT_THAT(warnings[0], HasSubstr("exp-2 (ant_trap_es_s1) runs on the coordinator although "
                                     "that run has finished in this grid"));
  EXPECT_THAT(warnings[1], HasSubstr("exp-4 (point_maze_es_s7) runs on the coordinator but not "
                                     "in this grid"));
  EXPECT_THAT(warnings[2], HasSubstr("exp-5 (ant_trap_pga_me_s2) runs on the coordinator with "
                                     "another task, algorithm, seed or budget"));
  // A grid that follows all of them has nothing to say.
  runs[1].finished = false;
  EXPECT_THAT(LiveExperimentWarnings(runs, {experiments[0], experiments[1], experiments[2]}),
              ::testing::IsEmpty());
}

// FNV-1a, 64 bits: pins files too long to spell out in the test.
uint64_t Fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// results.md without its two lines that depend on the machine and the clock.
std::string WithoutMachineAndTime(const std::string& md) {
  std::vector<std::string> kept;
  for (absl::string_view line : absl::StrSplit(md, '\n')) {
    if (!absl::StartsWith(line, "machine: ") && !absl::StartsWith(line, "report written: ")) {
      kept.emplace_back(line);
    }
  }
  return absl::StrJoin(kept, "\n");
}

class StudyReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = absl::StrCat(::testing::TempDir(), "/study_test_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A finished run whose QD-score % grows linearly to `final_qd` over 10 iterations of 100
  // evaluations, `seconds_per_iteration` apart.
  static StudyRun Finished(StudyRun run, double final_qd, double seconds_per_iteration) {
    run.finished = true;
    for (int i = 1; i <= 10; ++i) {
      client::MetricsRow row{};
      row.iteration = i;
      row.evaluations = 100 * i;
      row.qd_score_pct = final_qd * i / 10;
      row.coverage_pct = final_qd / 2 * i / 10;
      row.max_fitness = -100 + i;
      row.wall_seconds = seconds_per_iteration * i;
      row.evaluation_seconds = row.wall_seconds / 2;
      run.metrics.push_back(row);
    }
    run.commit = "abc";
    return run;
  }

  // A finished RL run: 10 rounds of 120 environment steps (it ends 200 past a budget of 1000),
  // max_eval_return NaN before the first evaluation round, then growing to `final_return`; the
  // archive of evaluation end points at QD-score % `final_qd`.
  static StudyRun FinishedRl(StudyRun run, double final_return, double final_qd) {
    run = Finished(std::move(run), final_qd, 3);
    for (int i = 1; i <= 10; ++i) {
      client::MetricsRow& row = run.metrics[i - 1];
      row.evaluations = 3 * i;
      row.extra = {{"max_eval_return", i == 1 ? NAN : final_return - 10 + i},
                   {"env_steps", 120.0 * i}};
    }
    return run;
  }

  // Two tasks: an unfinished seed, an ES row, and an arm.
  static std::vector<StudyRun> QdFixture() {
    return {
        Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 10),
        Finished(Cell("point_maze", "GDA_QD", 0), 40, 10),
        Finished(Cell("point_maze", "MAP_ELITES", 1), 20, 10),
        Cell("point_maze", "GDA_QD", 1),
        Finished(Cell("ant_trap", "MAP_ELITES", 0), 30, 2),
        Finished(Cell("ant_trap", "ES", 0), 25, 3),
        Finished(Cell("ant_trap", "GDA_QD", 0, "PIPELINED"), 36, 5),
        Finished(Cell("ant_trap", "GDA_QD", 0), 33, 6),
    };
  }

  std::string Read(const std::string& file) const {
    std::ifstream in(dir_ + "/" + file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
};

TEST_F(StudyReportTest, TableFromFinishedRunsWithTestsAgainstMapElites) {
  // MAP-Elites finals 10, 20, 30: target 20, reached at never, 1000 and 700 evaluations.
  // GDA-QD: 2 of 3 finished, finals 40 and 50: reached at 500 and 400.
  const std::vector<StudyRun> runs = {
      Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 10),
      Finished(Cell("point_maze", "GDA_QD", 0), 40, 10),
      Finished(Cell("point_maze", "MAP_ELITES", 1), 20, 10),
      Finished(Cell("point_maze", "GDA_QD", 1), 50, 10),
      Finished(Cell("point_maze", "MAP_ELITES", 2), 30, 10),
      Cell("point_maze", "GDA_QD", 2),  // unfinished: no metrics
      Finished(Cell("point_maze", "GDA_QD", 0, "PIPELINED"), 36, 5),
  };
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, runs, {"0,1,2", "point_maze=1000", "", 2, 2, ""});
  ASSERT_TRUE(md.ok()) << md.status();
  const std::string csv = Read("table1.csv");
  // ME's own evaluations to target: [censored, 1000, 700], median 1000, ratio 1.
  EXPECT_THAT(csv, HasSubstr("point_maze,MAP_ELITES,3,3,1000,20.0000,15.0000,25.0000,"
                             "10.0000,7.5000,12.5000,-90.0000,-90.0000,-90.0000,20.0000,1000,2,"
                             "1.0000,,,,,"));
  // GDA-QD: [500, 400] against [inf, 1000, 700]: U = 0, p = 2/10; finals [40, 50] against
  // [10, 20, 30]: U = 6, p = 2/10. Median 450, ME budget / 450 = 2.2222.
  EXPECT_THAT(csv, HasSubstr("point_maze,GDA_QD,2,3,1000,45.0000,42.5000,47.5000,"
                             "22.5000,21.2500,23.7500,-90.0000,-90.0000,-90.0000,20.0000,450,2,"
                             "2.2222,0,0.200000,6,0.200000,0,100.0,0.5000,0.0000,0.0000,0.0000,"
                             "abc\n"));
  // The arm is a group of its own, without tests against MAP-Elites.
  EXPECT_THAT(csv, HasSubstr("point_maze,GDA_QD_PIPELINED,1,1,1000,36.0000"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("GDA_QD +\\| 2 of 3 "));
  EXPECT_THAT(*md, HasSubstr("U=0 p=0.2000"));
  // Equal wall time 50 s: SYNCHRONOUS had 20 % then (row at 500 evaluations), the arm its final
  // 36 %; 10 and 5 s per iteration.
  EXPECT_THAT(Read("schedule_arm.csv"),
              HasSubstr("point_maze,GDA_QD_PIPELINED,0,40.0000,36.0000,50.0000,20.0000,"
                        "36.0000,10.0000,5.0000,no\n"));  // no sittings.csv: not side by side
  // The curves keep the group with an unfinished seed.
  EXPECT_THAT(Read("progress_point_maze.svg"), HasSubstr("GDA_QD (2)"));
  EXPECT_EQ(Read("results.md"), *md);
}

TEST_F(StudyReportTest, GridWithoutRlRunsWritesWhatItWroteBeforeRlRows) {
  // The report of QdFixture() as the code before the RL rows (commit 8c15009) wrote it, but for
  // the schedule arm's side-by-side column (protocol, amendment to Analysis 4).
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, QdFixture(), {"0,1", "point_maze=1000,ant_trap=1000", "", 2, 2, ""});
  ASSERT_TRUE(md.ok()) << md.status();
  const std::string table1 = Read("table1.csv");
  EXPECT_THAT(table1, HasSubstr("\npoint_maze,GDA_QD,1,2,1000,40.0000,40.0000,40.0000,20.0000,"
                                "20.0000,20.0000,-90.0000,-90.0000,-90.0000,15.0000,400,1,2.5000,"
                                "0,0.666667,2,0.666667,0,100.0,0.5000,0.0000,0.0000,0.0000,abc\n"));
  EXPECT_EQ(Fnv1a(table1), 0x85c6d9344117aa8eull) << table1;
  EXPECT_EQ(Read("schedule_arm.csv"),
            "task,arm,seed,final_qd_score_pct_base,final_qd_score_pct_arm,equal_wall_seconds,"
            "qd_score_pct_at_equal_wall_base,qd_score_pct_at_equal_wall_arm,"
            "wall_seconds_per_iteration_base,wall_seconds_per_iteration_arm,side_by_side\n"
            "ant_trap,GDA_QD_PIPELINED,0,33.0000,36.0000,50.0000,26.4000,36.0000,6.0000,5.0000,"
            "no\n");
  const std::string stable = WithoutMachineAndTime(*md);
  EXPECT_EQ(stable.size(), 4844u);
  EXPECT_EQ(Fnv1a(stable), 0x8eb09e3581438090ull) << stable;
  EXPECT_EQ(Read("results.md"), *md);
  EXPECT_EQ(Fnv1a(Read("progress_point_maze.svg")), 0xcb02b1d7bb6b161dull);
  EXPECT_EQ(Fnv1a(Read("progress_ant_trap.svg")), 0xc14370b0ee971393ull);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/rl_rows.csv"));
  EXPECT_THAT(*md, Not(HasSubstr("environment steps")));
}

// Addendum 1: NSRA-ES's reward weight per generation, one line per finished seed, with a link
// from results.md; a task without finished NSRA-ES runs gets no figure.
TEST_F(StudyReportTest, NsraWeightIsPlottedPerFinishedSeed) {
  std::vector<StudyRun> runs = QdFixture();
  for (int seed = 0; seed < 2; ++seed) {
    StudyRun run = Finished(Cell("point_maze", "NSRA_ES", seed), 5, 3);
    for (int i = 1; i <= 10; ++i) {
      // The weight falls by 0.05 a generation from 1 (seed 1 from generation 3 on).
      const double weight = 1.0 - 0.05 * std::max(0, i - (seed == 0 ? 1 : 3));
      run.metrics[i - 1].extra = {{"es_generations", 1.0 * i}, {"es_reward_weight", weight}};
    }
    runs.push_back(std::move(run));
  }
  runs.push_back(Cell("ant_trap", "NSRA_ES", 0));  // unfinished: no figure for ant_trap
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, runs, {"0,1", "point_maze=1000,ant_trap=1000", "", 2, 2, ""});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(*md, HasSubstr("- point_maze: [nsra_weight_point_maze.svg]"));
  EXPECT_THAT(*md, Not(HasSubstr("nsra_weight_ant_trap")));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nsra_weight_ant_trap.svg"));
  const std::string svg = Read("nsra_weight_point_maze.svg");
  EXPECT_THAT(svg, HasSubstr("NSRA-ES"));
  EXPECT_THAT(svg, HasSubstr("reward weight w"));
  EXPECT_THAT(svg, HasSubstr("seed 0"));
  EXPECT_THAT(svg, HasSubstr("seed 1"));
  size_t lines = 0;
  for (size_t at = svg.find("class=\"series\""); at != std::string::npos;
       at = svg.find("class=\"series\"", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << svg;
}

TEST_F(StudyReportTest, RlRowsStayOutOfTheQdStatistics) {
  std::vector<StudyRun> runs = QdFixture();
  const std::string qd_dir = dir_ + "/qd";
  ASSERT_TRUE(WriteStudyReport(qd_dir, runs, {"0,1", "b", "", 2, 2, ""}).ok());
  // TD3: finals 100, 50 and one unfinished seed; SMERL one seed; SAC none finished.
  runs.push_back(FinishedRl(Cell("point_maze", "TD3", 0), 100, 4));
  runs.push_back(FinishedRl(Cell("point_maze", "TD3", 1), 50, 8));
  runs.push_back(Cell("point_maze", "TD3", 2));
  runs.push_back(FinishedRl(Cell("point_maze", "SMERL", 0), -20, 6));
  runs.push_back(Cell("ant_trap", "SAC", 0));
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, runs, {"0,1", "b", "", 2, 2, "point_maze=1000"});
  ASSERT_TRUE(md.ok()) << md.status();
  for (const char* file :
       {"table1.csv", "schedule_arm.csv", "progress_point_maze.svg", "progress_ant_trap.svg"}) {
    std::ifstream in(qd_dir + "/" + file);
    std::stringstream qd_only;
    qd_only << in.rdbuf();
    EXPECT_EQ(Read(file), qd_only.str()) << file;
  }
  EXPECT_EQ(Read("rl_rows.csv"),
            "task,algorithm,seeds_finished,seeds_planned,budget_env_steps,max_eval_return_median,"
            "max_eval_return_min,max_eval_return_max,env_steps_median,qd_score_pct_median,"
            "coverage_pct_median,wall_seconds_median,commits\n"
            "point_maze,TD3,2,3,1000,75.0000,50.0000,100.0000,1200,6.0000,3.0000,30.0,abc\n"
            "point_maze,SMERL,1,1,1000,-20.0000,-20.0000,-20.0000,1200,6.0000,3.0000,30.0,abc\n");
  EXPECT_THAT(*md, HasSubstr("budgets (evaluations): b  \nbudgets (environment steps): "
                             "point_maze=1000  \n"));
  EXPECT_THAT(*md, HasSubstr("\n## Deep-RL rows (max total reward)\n"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("point_maze +\\| TD3 +\\| 2 of 3 +\\| 1000 +\\| "
                                            "75.00 / 50.00 / 100.00 "));
  EXPECT_THAT(*md, ::testing::ContainsRegex("ant_trap +\\| SAC +\\| 0 of 1 +\\| 1000 +\\| - "));
  // Table 1 has no RL group.
  EXPECT_THAT(*md, Not(::testing::ContainsRegex("\\| TD3 +\\| [0-9]+ of [0-9]+ +\\| [0-9.]+ \\[")));
  const std::string curves = Read("rl_progress_point_maze.svg");
  EXPECT_THAT(curves, HasSubstr("TD3 (2)"));
  EXPECT_THAT(curves, HasSubstr("environment steps"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/rl_progress_ant_trap.svg"));
}

TEST_F(StudyReportTest, RlOnlyGridHasNoQdTables) {
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_,
                       {FinishedRl(Cell("ant_maze", "DIAYN", 0), -17000, 1),
                        FinishedRl(Cell("ant_maze", "DIAYN", 1), -16000, 1)},
                       {"0,1", kDefaultStudyBudgets, "", 1, 1, kDefaultStudyRlBudgets});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(Read("rl_rows.csv"), HasSubstr("\nant_maze,DIAYN,2,2,1000,-16500.0000,-17000.0000,"
                                             "-16000.0000,1200,"));
  EXPECT_THAT(*md, HasSubstr("seeds: 0,1  \nbudgets (environment steps): point_maze=100000,"));
  EXPECT_THAT(*md, HasSubstr(" worker processes)\n\n## Deep-RL rows (max total reward)\n"));
  EXPECT_THAT(*md, Not(HasSubstr("budgets (evaluations)")));
  EXPECT_THAT(*md, Not(HasSubstr("Table 1 from finished runs")));
  for (const char* file : {"table1.csv", "schedule_arm.csv", "progress_ant_maze.svg"}) {
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + file)) << file;
  }
}

TEST_F(StudyReportTest, MapElitesOfOtherGridsBesideTheRlRows) {
  // A main grid's MAP-Elites on point_maze: finals -90, -80, -50 at 1000 evaluations; one run at
  // another budget (a minority), one unfinished, and an arm's folder, all left out.
  const std::string grid = dir_ + "/main";
  auto write_run = [&](const std::string& name, int64_t budget, const std::string& state,
                       double final_max_fitness) {
    const std::string run_dir = absl::StrCat(grid, "/runs/", name);
    std::filesystem::create_directories(run_dir);
    StudyRun run = Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 1);
    run.metrics.back().max_fitness = final_max_fitness;
    ASSERT_TRUE(client::WriteMetricsCsv(run_dir + "/metrics.csv", run.metrics).ok());
    ASSERT_TRUE(client::WriteTextFile(run_dir + "/config.textproto",
                                      absl::StrCat("budget { max_evaluations: ", budget, " }"))
                    .ok());
    ASSERT_TRUE(client::WriteTextFile(
                    run_dir + "/status.textproto",
                    absl::StrCat("state: ", state, " progress { evaluations: ", budget, " }"))
                    .ok());
  };
  write_run("point_maze_map_elites_s0", 1000, "SUCCEEDED", -90);
  write_run("point_maze_map_elites_s1", 1000, "SUCCEEDED", -80);
  write_run("point_maze_map_elites_s2", 1000, "SUCCEEDED", -50);
  write_run("point_maze_map_elites_s3", 500, "SUCCEEDED", 0);
  write_run("point_maze_map_elites_s4", 1000, "RUNNING", 0);
  write_run("point_maze_map_elites_pipelined_s0", 1000, "SUCCEEDED", 0);
  write_run("point_maze_gda_qd_s0", 1000, "SUCCEEDED", 0);
  const std::vector<QdReference> references = LoadQdReferences(grid, {"point_maze", "ant_trap"});
  ASSERT_EQ(references.size(), 1u);
  EXPECT_EQ(references[0].task, "point_maze");
  EXPECT_EQ(references[0].budget, 1000);
  EXPECT_EQ(references[0].seeds, 3);
  EXPECT_EQ(references[0].max_fitness_median, -80);
  EXPECT_TRUE(LoadQdReferences(dir_ + "/none", {"point_maze"}).empty());

  StudySetup setup{"0", "", "", 1, 1, "point_maze=1000"};
  setup.qd_references = references;
  setup.qd_references.push_back({"es", "ant_maze", 10, 1, 5});  // no RL row on ant_maze
  absl::StatusOr<std::string> md =
      WriteStudyReport(dir_, {FinishedRl(Cell("point_maze", "SAC", 0), -300, 1)}, setup);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(Read("rl_map_elites_reference.csv"),
            absl::StrCat("task,grid,seeds,budget_evaluations,max_fitness_median\npoint_maze,", grid,
                         ",3,1000,-80.0000\n"));
  EXPECT_THAT(*md, HasSubstr("MAP-Elites beside them"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("point_maze +\\| [^|]*/main +\\| 3 +\\| 1000 +\\| "
                                            "-80.00 "));
  EXPECT_THAT(*md, Not(HasSubstr("ant_maze")));
}

TEST_F(StudyReportTest, CensoredMedianAndMissingMapElites) {
  // Without finished MAP-Elites runs there is no target: no evaluations or tests, no failure.
  absl::StatusOr<std::string> md = WriteStudyReport(
      dir_, {Finished(Cell("ant_maze", "GDA_QD", 0), 5, 1), Cell("ant_maze", "MAP_ELITES", 0)}, {});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(Read("table1.csv"), HasSubstr("ant_maze,GDA_QD,1,1,1000,5.0000"));
  EXPECT_THAT(*md, ::testing::ContainsRegex("ant_maze +\\| MAP_ELITES +\\| 0 of 1 "));
  // MAP-Elites at 50 %, PGA-ME never gets there in 2 of 3 runs: median censored.
  md = WriteStudyReport(
      dir_,
      {Finished(Cell("t", "MAP_ELITES", 0), 50, 1), Finished(Cell("t", "PGA_ME", 0), 60, 1),
       Finished(Cell("t", "PGA_ME", 1), 40, 1), Finished(Cell("t", "PGA_ME", 2), 30, 1)},
      {});
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(Read("table1.csv"), HasSubstr(",50.0000,censored,1,censored,"));
  EXPECT_THAT(*md, HasSubstr("> 1000 (1 of 3 reach)"));
}

TEST_F(StudyReportTest, RemainingWorkFromTheFinishedRunsOfEachGroup) {
  // ant_trap MAP-Elites finished in 10 and 30 s (median 20); its seed 2 has used a quarter of
  // its budget, seed 3 none: 15 + 20 s. The arm's group has no finished run.
  const std::vector<StudyRun> runs = {
      Finished(Cell("ant_trap", "MAP_ELITES", 0), 30, 1),
      Finished(Cell("ant_trap", "MAP_ELITES", 1), 30, 3),
      Cell("ant_trap", "MAP_ELITES", 2),
      Cell("ant_trap", "MAP_ELITES", 3),
      Finished(Cell("ant_trap", "GDA_QD", 0), 30, 6),
      Cell("ant_trap", "GDA_QD", 0, "PIPELINED"),
      Cell("ant_trap", "GDA_QD", 1, "PIPELINED"),
      Cell("ant_maze", "GDA_QD", 0),
  };
  const RemainingWork work = EstimateRemaining(runs, {1000, 1000, 250, 0, 1000, 300, 0, 0});
  EXPECT_EQ(work.unfinished, 5);
  EXPECT_EQ(work.estimated, 2);
  EXPECT_DOUBLE_EQ(work.run_seconds, 35);
  EXPECT_THAT(work.unknown,
              ElementsAre("ant_trap GDA_QD_PIPELINED (2)", "ant_maze GDA_QD (1)"));
  EXPECT_EQ(FormatRemaining(work, 2),
            "remaining: 5 unfinished runs; 2 with finished runs of their task and algorithm to go "
            "by: 0.0 h of run time (0.0 h at 2 side by side); none finished yet: ant_trap "
            "GDA_QD_PIPELINED (2), ant_maze GDA_QD (1)");
  EXPECT_EQ(FormatRemaining(EstimateRemaining({runs[0]}, {}), 2),
            "remaining: none, every run has finished");
}

TEST_F(StudyReportTest, SittingsFileRoundTripsAndABadOneIsNamed) {
  absl::StatusOr<std::vector<Sitting>> none = ReadSittings(dir_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());  // no file: no sittings
  Sitting a = SittingOf(absl::FromUnixSeconds(1764612000), absl::Minutes(90),
                        {"ant_trap_gda_qd_pipelined_s0", "x_s1"});
  a.used_ended = 4100;
  Sitting b = SittingOf(absl::FromUnixSeconds(1764700000), absl::Seconds(5), {});
  b.used_started = b.used_ended = 4100;
  ASSERT_TRUE(WriteSittings(dir_, {a, b}).ok());
  EXPECT_EQ(Read("sittings.csv"),
            "started,ended,used_started,used_ended,beside\n"
            "2025-12-01T18:00:00Z,2025-12-01T19:30:00Z,0,4100,ant_trap_gda_qd_pipelined_s0 x_s1\n"
            "2025-12-02T18:26:40Z,2025-12-02T18:26:45Z,4100,4100,\n");
  absl::StatusOr<std::vector<Sitting>> back = ReadSittings(dir_);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].started, a.started);
  EXPECT_EQ((*back)[0].ended, a.ended);
  EXPECT_EQ((*back)[0].used_ended, 4100);
  EXPECT_THAT((*back)[0].beside, ElementsAre("ant_trap_gda_qd_pipelined_s0", "x_s1"));
  EXPECT_TRUE((*back)[1].beside.empty());
  EXPECT_EQ((*back)[1].used_started, 4100);

  std::ofstream(dir_ + "/sittings.csv") << "started,ended,used_started,used_ended,beside\n"
                                        << "2025-12-01T18:00:00Z,soon,0,4100,\n";
  absl::StatusOr<std::vector<Sitting>> bad = ReadSittings(dir_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("sittings.csv line 2"));
}

TEST_F(StudyReportTest, ArmWallClockMediansTakeOnlyPairsThatRanSideBySide) {
  const absl::Time t0 = absl::FromUnixSeconds(1764612000);
  StudyRun arm0 = Finished(Cell("ant_trap", "GDA_QD", 0, "PIPELINED"), 36, 5);
  StudyRun sync0 = Finished(Cell("ant_trap", "GDA_QD", 0), 33, 6);
  arm0.sittings = {SittingOf(t0, absl::Minutes(1), {RunName(sync0)})};
  sync0.sittings = {SittingOf(t0, absl::Minutes(1), {RunName(arm0)})};
  // Seed 1 ran one after the other.
  StudyRun arm1 = Finished(Cell("ant_trap", "GDA_QD", 1, "PIPELINED"), 40, 4);
  StudyRun sync1 = Finished(Cell("ant_trap", "GDA_QD", 1), 30, 8);
  arm1.sittings = {SittingOf(t0, absl::Minutes(1), {})};
  sync1.sittings = {SittingOf(t0 + absl::Hours(1), absl::Minutes(1), {})};
  absl::StatusOr<std::string> md = WriteStudyReport(
      dir_, {sync0, sync1, arm0, arm1}, {"0,1", "ant_trap=1000", "", 2, 2, ""});
  ASSERT_TRUE(md.ok()) << md.status();
  const std::string csv = Read("schedule_arm.csv");
  EXPECT_THAT(csv, HasSubstr("ant_trap,GDA_QD_PIPELINED,0,33.0000,36.0000,50.0000,26.4000,"
                             "36.0000,6.0000,5.0000,yes\n"));
  // Equal wall 40 s: SYNCHRONOUS at 15 %, the arm at its final 40 %.
  EXPECT_THAT(csv, HasSubstr("ant_trap,GDA_QD_PIPELINED,1,30.0000,40.0000,40.0000,15.0000,"
                             "40.0000,8.0000,4.0000,no\n"));
  // Final QD % medians over both pairs; the wall-clock ones over seed 0 only (with seed 1 they
  // would be 45 s, 20.7 / 38.0 and 7.00 / 4.50).
  EXPECT_THAT(*md, ::testing::ContainsRegex(
                       "median +\\| 2 pairs +\\| 31\\.5 / 38\\.0 +\\| 1 pair +\\| 50 +\\| "
                       "26\\.4 / 36\\.0 +\\| 6\\.00 / 5\\.00"));
}

TEST_F(StudyReportTest, LoadsOnlyRunsThatSucceededWithTheFullBudget) {
  StudyRun run = Cell("point_maze", "MAP_ELITES", 0);
  run.dir = dir_ + "/run";
  EXPECT_FALSE(LoadFinishedRun(run));  // no folder
  std::filesystem::create_directories(run.dir);
  ASSERT_TRUE(client::WriteMetricsCsv(run.dir + "/metrics.csv",
                                      Finished(Cell("point_maze", "MAP_ELITES", 0), 10, 1).metrics)
                  .ok());
  auto status = [&](const std::string& state, int64_t evaluations) {
    return client::WriteTextFile(
        run.dir + "/status.textproto",
        absl::StrCat("state: ", state, " progress { evaluations: ", evaluations, " }"));
  };
  ASSERT_TRUE(status("RUNNING", 1000).ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 900).ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 1000).ok());
  ASSERT_TRUE(NoteRunCommit(run, "c1").ok());
  ASSERT_TRUE(NoteRunCommit(run, "c1").ok());
  ASSERT_TRUE(NoteRunCommit(run, "c2").ok());
  EXPECT_TRUE(LoadFinishedRun(run));
  EXPECT_TRUE(run.finished);
  EXPECT_EQ(run.metrics.size(), 10u);
  EXPECT_EQ(run.commit, "c1,c2");
}

TEST_F(StudyReportTest, ReusesAnotherGridsRunOnlyWhenItIsThisRun) {
  const std::string main = dir_ + "/main";
  auto write_source = [&](const StudyRun& cell, const std::string& state,
                          const std::string& config_extra) {
    const std::string source = absl::StrCat(main, "/runs/", RunName(cell));
    std::filesystem::create_directories(source);
    absl::StatusOr<gdaqd::v1::ExperimentConfig> config = StudyRunConfig(cell, config_extra);
    ASSERT_TRUE(config.ok()) << config.status();
    common::ApplyDefaults(&*config);
    std::string text;
    ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(*config, &text));
    ASSERT_TRUE(client::WriteTextFile(source + "/config.textproto", text).ok());
    ASSERT_TRUE(client::WriteMetricsCsv(source + "/metrics.csv", Finished(cell, 10, 1).metrics).ok());
    ASSERT_TRUE(client::WriteTextFile(source + "/status.textproto",
                                      absl::StrCat("state: ", state, " progress { evaluations: ",
                                                   cell.budget, " }"))
                    .ok());
    ASSERT_TRUE(client::WriteTextFile(source + "/archive.csv", "cell,fitness\n7,1.5\n").ok());
    ASSERT_TRUE(client::WriteTextFile(source + "/commit.txt", "c1\n").ok());
  };
  StudyRun run = Cell("ant_trap", "MAP_ELITES", 1);
  run.dir = dir_ + "/es/runs/" + RunName(run);

  // Nothing there yet, then a run still going: not reused, nothing written.
  absl::StatusOr<bool> reused = ReuseFinishedRun(run, main, "");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_FALSE(*reused);
  write_source(run, "RUNNING", "");
  reused = ReuseFinishedRun(run, main, "");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_FALSE(*reused);
  EXPECT_FALSE(std::filesystem::exists(run.dir));

  // Finished with this run's config: copied whole over what the folder held, and loaded.
  write_source(run, "SUCCEEDED", "");
  ASSERT_TRUE(NoteRunCommit(run, "stale").ok());
  reused = ReuseFinishedRun(run, main, "");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_TRUE(*reused);
  EXPECT_TRUE(run.finished);
  EXPECT_EQ(run.metrics.size(), 10u);
  EXPECT_EQ(run.commit, "c1");
  EXPECT_EQ(Read("es/runs/" + RunName(run) + "/archive.csv"), "cell,fitness\n7,1.5\n");
  EXPECT_THAT(Read("es/runs/" + RunName(run) + "/reused_from.txt"), HasSubstr(main + "/runs/" + RunName(run)));
  EXPECT_FALSE(std::filesystem::exists(run.dir + ".reuse-tmp"));

  // Finished with another config (here another emitter sigma): refused, nothing written.
  StudyRun other = Cell("ant_trap", "MAP_ELITES", 2);
  other.dir = dir_ + "/es/runs/" + RunName(other);
  write_source(other, "SUCCEEDED", "emitter { iso_sigma: 0.5 }");
  reused = ReuseFinishedRun(other, main, "");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(reused.status().message(), HasSubstr("another config"));
  EXPECT_FALSE(std::filesystem::exists(other.dir));
  EXPECT_FALSE(other.finished);
  // ... and a budget this run does not have is no finished run of it.
  other.budget = 2000;
  reused = ReuseFinishedRun(other, main, "");
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_FALSE(*reused);
}

TEST_F(StudyReportTest, LoadsRlRunsThatSucceededWithTheirStepBudget) {
  StudyRun run = Cell("point_maze", "TD3", 0);  // budget: 1000 environment steps
  run.dir = dir_ + "/run";
  std::filesystem::create_directories(run.dir);
  ASSERT_TRUE(client::WriteMetricsCsv(run.dir + "/metrics.csv",
                                      FinishedRl(Cell("point_maze", "TD3", 0), 10, 1).metrics)
                  .ok());
  auto status = [&](const std::string& state, int64_t evaluations, const std::string& steps) {
    return client::WriteTextFile(
        run.dir + "/status.textproto",
        absl::StrCat("state: ", state, " progress { evaluations: ", evaluations,
                     steps.empty()
                         ? ""
                         : absl::StrCat(" metrics { name: \"env_steps\" value: ", steps, " }"),
                     " }"));
  };
  ASSERT_TRUE(status("RUNNING", 30, "1200").ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 1000, "").ok());  // evaluations are not its budget
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 30, "880").ok());
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 30, "1000").ok());
  EXPECT_TRUE(LoadFinishedRun(run));
  ASSERT_TRUE(status("SUCCEEDED", 30, "1200").ok());  // stopped after the round that reached it
  run.finished = false;
  EXPECT_TRUE(LoadFinishedRun(run));
  EXPECT_TRUE(run.finished);
  ASSERT_EQ(run.metrics.size(), 10u);
  EXPECT_EQ(client::FindMetric(run.metrics.back(), "max_eval_return"), 10.0);
  // The results folder's config says which budget it ran to: not this run's.
  ASSERT_TRUE(
      client::WriteTextFile(run.dir + "/config.textproto", "budget { max_env_steps: 500 }").ok());
  run.finished = false;
  EXPECT_FALSE(LoadFinishedRun(run));
  ASSERT_TRUE(
      client::WriteTextFile(run.dir + "/config.textproto", "budget { max_env_steps: 1000 }").ok());
  EXPECT_TRUE(LoadFinishedRun(run));
}

}  // namespace
}  // namespace gdaqd::bench
