#include "server/algorithms/pga_me.h"

#include <algorithm>
#include <cmath>
#include <istream>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/emitters/isoline.h"
#include "server/emitters/selection.h"
#include "server/models/batched_policy.h"
#include "server/models/torch_util.h"

namespace gdaqd::server {
namespace {

using models::Provenance;

// Version 2 added the generation and rejected-episode counters.
// Version 3 added the generations told and not yet learned (Learn() apart from Tell()); version 2
// checkpoints were taken after a Tell() that had trained, and read as "nothing to learn".
constexpr char kPgaMePrefix[] = "GDQDPGA";
constexpr char kPgaMeMagic[] = "GDQDPGA3";

}  // namespace

PgaBatchComposition PgaBatchComposition::For(int64_t count, double isoline_fraction) {
  PgaBatchComposition batch;
  if (count <= 0) return batch;
  batch.isoline = std::clamp<int64_t>(
      static_cast<int64_t>(std::floor(isoline_fraction * static_cast<double>(count))), 0, count);
  const int64_t rest = count - batch.isoline;
  if (rest >= 2) {
    batch.greedy = 1;
    batch.pg = rest - 1;
  } else {
    batch.isoline = count;
  }
  return batch;
}

absl::StatusOr<std::unique_ptr<PgaMe>> PgaMe::Create(const gdaqd::v1::ExperimentConfig& config,
                                                     const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  if (config.algorithm() != gdaqd::v1::PGA_ME) {
    return absl::InvalidArgumentError(absl::StrCat("algorithm: PgaMe needs PGA_ME, got ",
                                                   common::AlgorithmName(config.algorithm())));
  }
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  const common::TaskSpec& spec = problem.spec;
  GDAQD_ASSIGN_OR_RETURN(
      std::unique_ptr<models::ReplayBuffer> buffer,
      models::ReplayBuffer::Create(spec.obs_dim, spec.action_dim, config.pga().replay_capacity()));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<CriticLearner> critic,
                         CriticLearner::Create(config, problem.layout));
  models::SetTorchThreads(config.pga().torch_threads());
  return std::unique_ptr<PgaMe>(
      new PgaMe(config, std::move(problem), std::move(buffer), std::move(critic), interrupt));
}

PgaMe::PgaMe(gdaqd::v1::ExperimentConfig config, QdProblem problem,
             std::unique_ptr<models::ReplayBuffer> buffer, std::unique_ptr<CriticLearner> critic,
             const CancelFlag* interrupt)
    : AlgorithmCore(std::move(config), std::move(problem)),
      buffer_(std::move(buffer)),
      critic_(std::move(critic)),
      interrupt_(interrupt) {}

PgaMe::~PgaMe() = default;

std::vector<MetricSpec> PgaMe::metric_specs() const {
  using enum MetricKind;
  return {
      {"critic_loss", "Last generation's mean TD3 critic loss; NaN before the first training.",
       kGauge},
      {"critic_train_calls", "TD3 trainings (one per generation once the buffer is full enough).",
       kCounter},
      {"training_seconds", "Seconds spent training the critic and the greedy actor.", kCounter},
      {"gradient_seconds", "Seconds spent making policy-gradient children.", kCounter},
      {"rejected_transition_episodes",
       "Episodes whose transitions the replay buffer refused (non-finite or wrong size).",
       kCounter},
  };
}

std::vector<Metric> PgaMe::metrics() const {
  return {
      {"critic_loss", critic_->last_critic_loss()},
      {"critic_train_calls", static_cast<double>(critic_->train_calls())},
      {"training_seconds", training_seconds_},
      {"gradient_seconds", gradient_seconds_},
      {"rejected_transition_episodes", static_cast<double>(rejected_episodes_)},
  };
}

absl::Status PgaMe::AppendPgChildren(int64_t n, std::vector<float>* params) {
  const int64_t num_params = layout_.num_params();
  GDAQD_ASSIGN_OR_RETURN(std::vector<int64_t> cells, SelectUniform(*archive_, n, rng_));
  std::vector<float> parents;
  parents.reserve(n * num_params);
  for (int64_t cell : cells) {
    const absl::Span<const float> elite = archive_->elite(cell)->params;
    parents.insert(parents.end(), elite.begin(), elite.end());
  }
  const absl::Time start = absl::Now();
  // The children are for the generation after the last Tell().
  absl::StatusOr<std::vector<float>> children = critic_->Children(parents, *buffer_, interrupt_);
  if (!children.ok()) return AtGeneration(children.status(), generation_ + 1);
  gradient_seconds_ += absl::ToDoubleSeconds(absl::Now() - start);
  params->insert(params->end(), children->begin(), children->end());
  return absl::OkStatus();
}

absl::Status PgaMe::Ask(int64_t count, std::vector<float>* params) {
  count = std::max<int64_t>(count, 0);
  params->clear();
  GDAQD_RETURN_IF_ERROR(asked_.CheckRoom());  // a failed Ask() records nothing a Tell() answers
  if (archive_->num_filled() == 0 || !critic_->started()) {
    DrawRandomPolicies(count, params);
    asked_.Push(std::vector<Provenance>(count, Provenance::kInitial));
    return absl::OkStatus();
  }
  PgaBatchComposition batch = PgaBatchComposition::For(count, config_.pga().isoline_fraction());
  if (!critic_->CanLearn(*buffer_)) {  // no trained critic yet: isoline instead of PG children
    batch.isoline += batch.pg;
    batch.pg = 0;
  }
  const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
  GDAQD_RETURN_IF_ERROR(EmitIsoline(*archive_, batch.isoline, isoline, rng_, params));
  if (batch.pg > 0) GDAQD_RETURN_IF_ERROR(AppendPgChildren(batch.pg, params));
  if (batch.greedy > 0) {
    GDAQD_ASSIGN_OR_RETURN(std::vector<float> actor, critic_->GreedyActor());
    params->insert(params->end(), actor.begin(), actor.end());
  }
  std::vector<Provenance> provenance(batch.isoline, Provenance::kIsoline);
  provenance.insert(provenance.end(), batch.pg, Provenance::kGradient);
  provenance.insert(provenance.end(), batch.greedy, Provenance::kGreedy);
  asked_.Push(std::move(provenance));
  return absl::OkStatus();
}

absl::StatusOr<TellSummary> PgaMe::Tell(absl::Span<const float> params,
                                        absl::Span<const EvalOutcome> outcomes) {
  GDAQD_ASSIGN_OR_RETURN(std::vector<Provenance> provenance, asked_.Pop(outcomes.size()));
  ++generation_;
  GDAQD_ASSIGN_OR_RETURN(TellSummary summary, InsertOutcomes(*archive_, params, outcomes));
  if (const int64_t rejected = StoreTransitions(*buffer_, outcomes, provenance)) {
    rejected_episodes_ += rejected;
    LOG(WARNING) << "pga_me dropped the transitions of " << rejected
                 << " episodes (malformed or non-finite) generation=" << generation_;
  }
  // QDax: the greedy actor starts as the first genotype of the initial population.
  GDAQD_RETURN_IF_ERROR(critic_->EnsureStarted(params));
  ++untrained_generations_;
  return summary;
}

absl::Status PgaMe::Learn() {
  if (untrained_generations_ == 0) return absl::OkStatus();
  untrained_generations_ = 0;
  if (!critic_->CanLearn(*buffer_)) return absl::OkStatus();
  // QDax trains the critic once per generation, on the buffer as it stands after the insertion.
  const absl::Time start = absl::Now();
  GDAQD_RETURN_IF_ERROR(AtGeneration(critic_->Train(*buffer_, interrupt_), generation_));
  training_seconds_ += absl::ToDoubleSeconds(absl::Now() - start);
  return absl::OkStatus();
}

absl::Status PgaMe::SaveCheckpoint(std::ostream& out) const {
  WriteCoreHead(out, kPgaMeMagic);
  GDAQD_RETURN_IF_ERROR(checkpoint::WriteReplayBuffer(out, *buffer_));
  GDAQD_RETURN_IF_ERROR(critic_->Save(out));
  WriteCoreStreams(out);
  checkpoint::WriteF64(out, training_seconds_);
  checkpoint::WriteF64(out, gradient_seconds_);
  checkpoint::WriteU64(out, static_cast<uint64_t>(generation_));
  GDAQD_ASSIGN_OR_RETURN(std::vector<Provenance> outstanding, asked_.ForCheckpoint());
  checkpoint::WriteProvenance(out, outstanding);  // a batch asked and not yet told
  checkpoint::WriteU64(out, static_cast<uint64_t>(rejected_episodes_));
  checkpoint::WriteU64(out, static_cast<uint64_t>(untrained_generations_));
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the PGA-ME checkpoint");
}

absl::Status PgaMe::RestoreCheckpoint(std::istream& in) {
  GDAQD_ASSIGN_OR_RETURN(const int version, checkpoint::ReadMagicVersion(in, kPgaMePrefix, 2, 3));
  CoreState core;
  GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &core));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::ReplayBuffer> buffer,
                         checkpoint::ReadReplayBuffer(in, buffer_->row_size()));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<CriticLearner> critic,
                         CriticLearner::Restore(in, config_, layout_));
  GDAQD_RETURN_IF_ERROR(ReadCoreStreams(in, &core));
  GDAQD_ASSIGN_OR_RETURN(double training_seconds, checkpoint::ReadF64(in, "training seconds"));
  GDAQD_ASSIGN_OR_RETURN(double gradient_seconds, checkpoint::ReadF64(in, "gradient seconds"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t generation, checkpoint::ReadU64(in, "generation"));
  GDAQD_ASSIGN_OR_RETURN(std::vector<models::Provenance> provenance,
                         checkpoint::ReadProvenance(in, checkpoint::kMaxBatchProvenance));
  GDAQD_ASSIGN_OR_RETURN(uint64_t rejected, checkpoint::ReadU64(in, "rejected episodes"));
  uint64_t untrained = 0;
  if (version >= 3) {
    GDAQD_ASSIGN_OR_RETURN(untrained, checkpoint::ReadU64(in, "generations not learned"));
  }
  CommitCore(std::move(core));
  buffer_ = std::move(buffer);
  critic_ = std::move(critic);
  training_seconds_ = training_seconds;
  gradient_seconds_ = gradient_seconds;
  generation_ = static_cast<int64_t>(generation);
  rejected_episodes_ = static_cast<int64_t>(rejected);
  untrained_generations_ = static_cast<int64_t>(untrained);
  asked_.Restore(std::move(provenance));
  return absl::OkStatus();
}

}  // namespace gdaqd::server
