// The registry is the only door: a toy algorithm defined entirely in this file (a hill climber
// under a made-up enum value) registers its config rules and factory at runtime, then runs
// through a real coordinator (in-process on 127.0.0.1:0) and a real gdaqd-worker process to the
// end of its budget. No other file of the project names it.
#include "server/algorithms/registry.h"

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <istream>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/experiment_client.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/service/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

using ::testing::HasSubstr;

constexpr auto kHillClimber = static_cast<v1::Algorithm>(900);
constexpr char kHillClimberMagic[] = "GDQDHC01";
constexpr absl::Duration kConnectTimeout = absl::Seconds(20);
constexpr int kEpisodeLength = 50;
constexpr int64_t kBudget = 300;

// Proposes Gaussian steps (emitter.iso_sigma) around the fittest policy seen so far; every
// evaluated policy is offered to the MAP-Elites archive AlgorithmCore holds. Single-thread.
class HillClimber final : public server::AlgorithmCore {
 public:
  static absl::StatusOr<std::unique_ptr<server::QdAlgorithm>> Create(
      const v1::ExperimentConfig& config, const server::CancelFlag* interrupt) {
    GDAQD_ASSIGN_OR_RETURN(server::QdProblem problem, server::MakeQdProblem(config, interrupt));
    return std::unique_ptr<server::QdAlgorithm>(new HillClimber(config, std::move(problem)));
  }

  absl::Status Ask(int64_t count, std::vector<float>* params) override {
    if (best_.empty()) {
      DrawRandomPolicies(count, params);
      return absl::OkStatus();
    }
    std::normal_distribution<float> step(0, config_.emitter().iso_sigma());
    params->resize(count * best_.size());
    for (int64_t i = 0; i < count; ++i) {
      for (size_t j = 0; j < best_.size(); ++j) {
        (*params)[i * best_.size() + j] = best_[j] + step(rng_);
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<server::TellSummary> Tell(
      absl::Span<const float> params, absl::Span<const server::EvalOutcome> outcomes) override {
    GDAQD_ASSIGN_OR_RETURN(server::TellSummary summary,
                           server::InsertOutcomes(*archive_, params, outcomes));
    const int64_t n = archive_->num_params();
    for (size_t i = 0; i < outcomes.size(); ++i) {
      if (!outcomes[i].error.empty() || outcomes[i].diverged) continue;
      if (outcomes[i].fitness > best_fitness_) {
        best_fitness_ = outcomes[i].fitness;
        best_.assign(params.begin() + i * n, params.begin() + (i + 1) * n);
      }
    }
    return summary;
  }

  bool needs_transitions() const override { return false; }

  // The core's checkpoint, then the climber's own state.
  absl::Status SaveCheckpoint(std::ostream& out) const override {
    GDAQD_RETURN_IF_ERROR(SaveCore(out, kHillClimberMagic, "hill climber"));
    server::checkpoint::WriteF64(out, best_fitness_);
    server::checkpoint::WriteBytes(out,
                                   absl::string_view(reinterpret_cast<const char*>(best_.data()),
                                                     best_.size() * sizeof(float)));
    return out ? absl::OkStatus() : absl::DataLossError("cannot write the hill climber");
  }

  absl::Status RestoreCheckpoint(std::istream& in) override {
    GDAQD_RETURN_IF_ERROR(server::checkpoint::ExpectMagic(in, kHillClimberMagic));
    CoreState core;
    GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &core));
    GDAQD_RETURN_IF_ERROR(ReadCoreStreams(in, &core));
    GDAQD_ASSIGN_OR_RETURN(double best_fitness, server::checkpoint::ReadF64(in, "best fitness"));
    GDAQD_ASSIGN_OR_RETURN(std::string best, server::checkpoint::ReadBytes(in, "best", 1 << 24));
    CommitCore(std::move(core));
    best_fitness_ = best_fitness;
    best_.resize(best.size() / sizeof(float));
    std::memcpy(best_.data(), best.data(), best_.size() * sizeof(float));
    return absl::OkStatus();
  }

 private:
  HillClimber(v1::ExperimentConfig config, server::QdProblem problem)
      : AlgorithmCore(std::move(config), std::move(problem)) {}

  std::vector<float> best_;  // [num_params]; empty until a usable outcome is told
  double best_fitness_ = -std::numeric_limits<double>::infinity();
};

// Its own config rule: a step of more than 1 per weight is a random restart, not a climb.
absl::Status ValidateHillClimber(const v1::ExperimentConfig& config) {
  if (!(config.emitter().iso_sigma() > 0 && config.emitter().iso_sigma() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("emitter.iso_sigma: HILL_CLIMBER steps by it; must be in (0, 1], got ",
                     config.emitter().iso_sigma()));
  }
  return absl::OkStatus();
}

void ApplyHillClimberDefaults(v1::ExperimentConfig* config) {
  if (config->emitter().iso_sigma() == common::kDefaultIsoSigma) {
    config->mutable_emitter()->set_iso_sigma(0.1f);  // MAP-Elites' 0.005 barely moves a climber
  }
}

// Registers once per process (each ctest case is its own process; a filter may run several).
void RegisterHillClimber() {
  static const absl::Status registered = [] {
    common::AlgorithmRules rules;
    rules.id = kHillClimber;
    rules.name = "HILL_CLIMBER";
    rules.label = "Hill climber";
    rules.traits = {};  // learns nothing, needs no transitions
    rules.apply_defaults = &ApplyHillClimberDefaults;
    rules.validate = &ValidateHillClimber;
    return server::RegisterAlgorithm(std::move(rules), &HillClimber::Create);
  }();
  ASSERT_TRUE(registered.ok()) << registered;
}

class RegistryIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterHillClimber();
    dir_ = absl::StrCat(::testing::TempDir(), "/gdaqd_registry_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    server::CoordinatorOptions options;
    options.listen_address = "127.0.0.1:0";
    GDAQD_ASSERT_OK_AND_ASSIGN(coordinator_, server::Coordinator::Start(options));
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    GDAQD_ASSERT_OK_AND_ASSIGN(client_,
                               client::ExperimentClient::Connect(address_, kConnectTimeout));
  }

  void TearDown() override {
    worker_.reset();  // SIGKILL
    client_.reset();
    if (coordinator_ != nullptr) coordinator_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void StartWorker() {
    common::Subprocess::Options options;
    options.log_path = dir_ + "/worker.log";
    GDAQD_ASSERT_OK_AND_ASSIGN(
        worker_, common::Subprocess::Spawn({GDAQD_WORKER_BINARY, "--coordinator=" + address_,
                                            "--threads=1", "--worker_id=climber"},
                                           options));
    ASSERT_TRUE(coordinator_->scheduler().WaitForWorkers(1, kConnectTimeout))
        << "the worker did not connect; log in " << dir_;
  }

  // The hill climber's config, defaulted and validated through the registry like any other.
  absl::StatusOr<v1::ExperimentConfig> Config(int algorithm) {
    return common::ParseExperimentConfig(
        absl::StrCat("name: \"climber\" seed: 11 algorithm: ", algorithm,
                     " env { task: \"point_maze\" episode_length: ", kEpisodeLength,
                     " } archive { cells_per_dim: [10, 10] } emitter { batch_size: 50 } "
                     "budget { max_evaluations: ",
                     kBudget, " }"));
  }

  std::string dir_;
  std::string address_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::unique_ptr<client::ExperimentClient> client_;
  std::unique_ptr<common::Subprocess> worker_;
};

TEST_F(RegistryIntegrationTest, ToyAlgorithmRunsThroughCoordinatorAndWorkerToItsBudget) {
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config, Config(900));
  EXPECT_EQ(config.emitter().iso_sigma(), 0.1f);  // its own default hook ran
  EXPECT_FALSE(config.has_pga());                 // and no other algorithm's
  StartWorker();
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, client_->Submit(config));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus final_status,
                             client_->Watch(id, [](const v1::ExperimentStatus&) {}));
  ASSERT_EQ(final_status.state(), v1::SUCCEEDED) << final_status.error();
  EXPECT_EQ(final_status.progress().evaluations(), kBudget);
  EXPECT_EQ(final_status.config().algorithm(), kHillClimber);
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive exported, client_->Export(id));
  EXPECT_FALSE(exported.elites.empty());
}

TEST_F(RegistryIntegrationTest, ItsRulesAndTheRegisteredNamesReachTheSubmitter) {
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config, Config(900));
  config.mutable_emitter()->set_iso_sigma(5);  // within MAP-Elites' bound, not its own
  absl::StatusOr<std::string> refused = client_->Submit(config);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("HILL_CLIMBER steps by it"));

  config.set_algorithm(static_cast<v1::Algorithm>(901));
  refused = client_->Submit(config);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("901 is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT, GDA_QD, ES, "
                        "NS_ES, NSR_ES, NSRA_ES, ME_ES, TD3, SAC, DIAYN, SMERL or "
                        "HILL_CLIMBER)"));
}

// The toy's checkpoint (AlgorithmCore's head and streams, then its own state) continues exactly
// where it was, through the registry's MakeAlgorithm.
TEST_F(RegistryIntegrationTest, ToyCheckpointContinuesIdentically) {
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config, Config(900));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::QdAlgorithm> first,
                             server::MakeAlgorithm(config));
  std::vector<float> params;
  GDAQD_ASSERT_OK(first->Ask(4, &params));
  std::vector<server::EvalOutcome> outcomes(4);
  for (int i = 0; i < 4; ++i) {
    outcomes[i].fitness = static_cast<float>(-i);
    outcomes[i].descriptor = {0.1f * static_cast<float>(i) - 0.5f, 0.2f};
  }
  GDAQD_ASSERT_OK(first->Tell(params, outcomes).status());
  std::stringstream saved;
  GDAQD_ASSERT_OK(first->SaveCheckpoint(saved));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::QdAlgorithm> second,
                             server::MakeAlgorithm(config));
  GDAQD_ASSERT_OK(second->RestoreCheckpoint(saved));
  EXPECT_EQ(second->archive().num_filled(), first->archive().num_filled());
  std::vector<float> next_first, next_second;
  GDAQD_ASSERT_OK(first->Ask(3, &next_first));
  GDAQD_ASSERT_OK(second->Ask(3, &next_second));
  EXPECT_EQ(next_first, next_second);
  // A truncated checkpoint is refused and changes nothing.
  std::stringstream truncated(saved.str().substr(0, 20));
  EXPECT_FALSE(second->RestoreCheckpoint(truncated).ok());
}

}  // namespace
}  // namespace gdaqd
