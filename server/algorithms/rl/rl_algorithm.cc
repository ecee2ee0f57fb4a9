#include "server/algorithms/rl/rl_algorithm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/seeds.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/algorithms/rl/sac_learner.h"
#include "server/algorithms/rl/td3_learner.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::rl {
namespace {

constexpr char kRlPrefix[] = "GDQDRL0";
// Version 2 added the SAC family's gauges; a version-1 (TD3) checkpoint reads them as NaN.
constexpr char kRlMagic[] = "GDQDRL02";
constexpr uint64_t kMaxLearnerBytes = uint64_t{1} << 32;
constexpr uint64_t kMaxRoundEpisodes = 1'000'000;

// The learner of `config`'s algorithm with its actor set to `actor`: the one place an RL method
// picks its learner.
absl::StatusOr<std::unique_ptr<RlLearner>> MakeLearner(const gdaqd::v1::ExperimentConfig& config,
                                                       const common::MlpLayout& layout,
                                                       absl::Span<const float> actor) {
  if (config.algorithm() == gdaqd::v1::TD3) {
    GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<Td3Learner> td3,
                           Td3Learner::Create(config, layout, actor));
    return std::unique_ptr<RlLearner>(std::move(td3));
  }
  if (config.algorithm() == gdaqd::v1::SAC || config.algorithm() == gdaqd::v1::DIAYN ||
      config.algorithm() == gdaqd::v1::SMERL) {
    GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<SacLearner> sac,
                           SacLearner::Create(config, layout, actor));
    return std::unique_ptr<RlLearner>(std::move(sac));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "algorithm: ", common::AlgorithmName(config.algorithm()), " has no RL learner yet"));
}

// The SAC family's gauges, in sac_gauges_'s order; an algorithm reports the first
// NumSacGauges() of them.
struct GaugeName {
  const char* name;
  const char* help;
};
constexpr GaugeName kSacGauges[] = {
    {"alpha", "SAC temperature exp(log alpha) after the last published block; NaN before one."},
    {"alpha_loss", "Mean temperature loss of the last published block; NaN before one."},
    {"discriminator_loss",
     "Mean cross-entropy of the skill discriminator q(z | x, y) in the last block; NaN before "
     "one."},
    {"intrinsic_reward",
     "Mean DIAYN reward log q(z | x', y') - log p(z) of the last block's rows; NaN before one."},
    {"diversity_active",
     "Fraction of the last block's rows whose SMERL gate (return >= target - margin) was open."},
};

// How many of kSacGauges `algorithm` reports: none for TD3, the temperature's for SAC, the
// discriminator's too for DIAYN, everything for SMERL.
int NumSacGauges(gdaqd::v1::Algorithm algorithm) {
  switch (algorithm) {
    case gdaqd::v1::SAC:
      return 2;
    case gdaqd::v1::DIAYN:
      return 4;
    case gdaqd::v1::SMERL:
      return 5;
    default:
      return 0;
  }
}

// The SAC family's gauges of a version-2 checkpoint; NaN from a version-1 one (TD3 only).
absl::Status ReadSacGauges(std::istream& in, int version,
                           std::array<double, kNumSacGauges>* gauges) {
  gauges->fill(LearningStats::kNoValue);
  if (version < 2) return absl::OkStatus();
  for (double& value : *gauges) {
    GDAQD_ASSIGN_OR_RETURN(value, checkpoint::ReadF64(in, "SAC gauge"));
  }
  return absl::OkStatus();
}

void WriteRound(std::ostream& out, bool evaluation, const EpisodePlan& plan) {
  checkpoint::WriteU64(out, evaluation ? 1 : 0);
  checkpoint::WriteU64(out, plan.actor_version);
  checkpoint::WriteU64(out, plan.options.size());
  for (const common::EpisodeOptions& options : plan.options) {
    checkpoint::WriteU64(out, options.noise_seed.has_value() ? 1 : 0);
    checkpoint::WriteU64(out, options.noise_seed.value_or(0));
    checkpoint::WriteF64(out, options.exploration_std);
    checkpoint::WriteU64(out, options.skill.has_value() ? 1 : 0);
    checkpoint::WriteU64(out, static_cast<uint64_t>(options.skill.value_or(0)));
  }
}

absl::Status ReadRound(std::istream& in, bool* evaluation, EpisodePlan* plan) {
  GDAQD_ASSIGN_OR_RETURN(const uint64_t eval, checkpoint::ReadU64(in, "round kind"));
  GDAQD_ASSIGN_OR_RETURN(plan->actor_version, checkpoint::ReadU64(in, "round actor version"));
  GDAQD_ASSIGN_OR_RETURN(const uint64_t n, checkpoint::ReadU64(in, "round episodes"));
  if (n > kMaxRoundEpisodes) {
    return absl::InvalidArgumentError(absl::StrCat("round of ", n, " episodes in checkpoint"));
  }
  *evaluation = eval != 0;
  plan->options.assign(n, common::EpisodeOptions());
  for (common::EpisodeOptions& options : plan->options) {
    GDAQD_ASSIGN_OR_RETURN(const uint64_t has_noise, checkpoint::ReadU64(in, "noise flag"));
    GDAQD_ASSIGN_OR_RETURN(const uint64_t noise_seed, checkpoint::ReadU64(in, "noise seed"));
    GDAQD_ASSIGN_OR_RETURN(const double std, checkpoint::ReadF64(in, "exploration std"));
    GDAQD_ASSIGN_OR_RETURN(const uint64_t has_skill, checkpoint::ReadU64(in, "skill flag"));
    GDAQD_ASSIGN_OR_RETURN(const uint64_t skill, checkpoint::ReadU64(in, "skill"));
    if (has_noise != 0) options.noise_seed = noise_seed;
    options.exploration_std = static_cast<float>(std);
    if (has_skill != 0) options.skill = static_cast<int>(skill);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RlAlgorithm>> RlAlgorithm::Create(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  GDAQD_ASSIGN_OR_RETURN(
      std::unique_ptr<models::ReplayBuffer> buffer,
      models::ReplayBuffer::Create(problem.spec.obs_dim,
                                   StoredActionWidth(config, problem.spec.action_dim),
                                   config.rl().replay_capacity()));
  models::SetTorchThreads(config.rl().torch_threads());
  // The initial actor is the experiment's first random network (as PGA-ME's greedy actor).
  std::vector<float> actor;
  uint64_t drawn = 0;
  RandomPolicies(problem.layout, config.seed(), 1, &drawn, &actor);
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<RlLearner> learner,
                         MakeLearner(config, problem.layout, actor));
  std::unique_ptr<RlAlgorithm> algorithm(new RlAlgorithm(config, std::move(problem),
                                                         std::move(buffer), std::move(learner),
                                                         std::move(actor), interrupt));
  algorithm->random_policies_ = drawn;
  return algorithm;
}

RlAlgorithm::RlAlgorithm(gdaqd::v1::ExperimentConfig config, QdProblem problem,
                         std::unique_ptr<models::ReplayBuffer> buffer,
                         std::unique_ptr<RlLearner> learner, std::vector<float> actor,
                         const CancelFlag* interrupt)
    : AlgorithmCore(std::move(config), std::move(problem)),
      buffer_(std::move(buffer)),
      learner_(std::move(learner)),
      interrupt_(interrupt),
      sample_rng_(common::DeriveSeed(config_.seed(), common::kSeedStreamRlSampling, 0)),
      actor_(std::move(actor)) {}

RlAlgorithm::~RlAlgorithm() = default;

bool RlAlgorithm::IsEvaluationRound(int64_t round) const {
  return (round + 1) % config_.rl().eval_every() == 0;
}

int64_t RlAlgorithm::NextBatchSize(int64_t /*wanted*/) const {
  const int64_t skills = std::max(1, config_.policy().num_skills());
  return IsEvaluationRound(rounds_asked_) ? config_.rl().eval_episodes() * skills
                                          : config_.rl().episodes_per_round();
}

absl::Status RlAlgorithm::Ask(int64_t count, std::vector<float>* params) {
  EpisodePlan plan;
  return AskEpisodes(count, params, &plan);
}

absl::Status RlAlgorithm::AskEpisodes(int64_t count, std::vector<float>* params,
                                      EpisodePlan* plan) {
  if (count < 0) return absl::InvalidArgumentError(absl::StrCat("count is ", count));
  if (asked_.size() >= 2) {
    return absl::FailedPreconditionError("two rounds are asked and not told");
  }
  Round round;
  round.evaluation = IsEvaluationRound(rounds_asked_);
  round.plan.actor_version = actor_version_;
  const int skills = config_.policy().num_skills();
  if (!round.evaluation) {
    round.plan.options.resize(static_cast<size_t>(count));
    for (common::EpisodeOptions& options : round.plan.options) {
      // Skills round-robin over the exploration episodes (QDax tiles them over its env batch).
      if (skills > 0) options.skill = static_cast<int>(exploration_episodes_ % skills);
      options.noise_seed =
          common::DeriveSeed(config_.seed(), common::kSeedStreamRlNoise, exploration_episodes_++);
      options.exploration_std = config_.rl().exploration_std();  // 0 for the SAC family
    }
  } else if (skills > 0) {
    // Evaluation: each skill in turn, acting tanh(mu) (no noise seed).
    round.plan.options.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) round.plan.options[i].skill = static_cast<int>(i % skills);
  }
  params->resize(static_cast<size_t>(count) * actor_.size());
  for (int64_t i = 0; i < count; ++i) {
    std::copy(actor_.begin(), actor_.end(), params->begin() + i * actor_.size());
  }
  ++rounds_asked_;
  *plan = round.plan;
  asked_.push_back(std::move(round));
  return absl::OkStatus();
}

EpisodePlan RlAlgorithm::PendingPlan() const {
  return asked_.empty() ? EpisodePlan() : asked_.front().plan;
}

absl::StatusOr<TellSummary> RlAlgorithm::Tell(absl::Span<const float> params,
                                              absl::Span<const EvalOutcome> outcomes) {
  if (asked_.empty()) return absl::FailedPreconditionError("Tell() without an asked round");
  const int64_t n = static_cast<int64_t>(outcomes.size());
  if (static_cast<int64_t>(params.size()) != n * layout_.num_params()) {
    return absl::InvalidArgumentError(
        absl::StrCat("params has ", params.size(), " floats for ", n, " outcomes"));
  }
  const Round& round = asked_.front();
  if (!round.evaluation && static_cast<int64_t>(round.plan.options.size()) != n) {
    return absl::FailedPreconditionError(
        absl::StrCat(n, " outcomes told for a round of ", round.plan.options.size(), " episodes"));
  }
  TellSummary summary;
  for (const EvalOutcome& outcome : outcomes) {
    if (!outcome.error.empty()) continue;
    env_steps_ += outcome.length;
  }
  if (round.evaluation) {
    GDAQD_RETURN_IF_ERROR(TellEvaluation(params, outcomes, &summary));
  } else {
    TellExploration(round, outcomes, &summary);
  }
  asked_.pop_front();
  return summary;
}

void RlAlgorithm::TellExploration(const Round& round, absl::Span<const EvalOutcome> outcomes,
                                  TellSummary* summary) {
  for (const EvalOutcome& outcome : outcomes) {
    if (!outcome.error.empty()) {
      ++summary->failed;
    } else if (outcome.diverged) {
      ++summary->diverged;
    } else {
      exploration_steps_ += outcome.length;
      unpaid_steps_ += outcome.length;
    }
    ++summary->not_added;  // exploration episodes are not offered to the archive
  }
  // The actor's own episodes (PGA-ME's greedy-actor provenance is the closest tag).
  const std::vector<models::Provenance> provenance(outcomes.size(), models::Provenance::kGreedy);
  if (config_.policy().num_skills() == 0) {
    rejected_episodes_ += StoreTransitions(*buffer_, outcomes, provenance);
    return;
  }
  // Skill methods store wider rows: the episode's skill, x-y before and after, and its return.
  std::vector<EvalOutcome> wide(outcomes.size());
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const EvalOutcome& outcome = outcomes[i];
    if (!outcome.error.empty() || outcome.diverged || outcome.transitions.empty()) continue;
    absl::StatusOr<std::vector<float>> rows =
        WidenTransitions(spec_.obs_dim, spec_.action_dim, round.plan.options[i].skill.value_or(0),
                         outcome.transitions);
    if (!rows.ok()) {
      ++rejected_episodes_;
      continue;
    }
    wide[i].transitions = *std::move(rows);
  }
  rejected_episodes_ += StoreTransitions(*buffer_, wide, provenance);
}

absl::Status RlAlgorithm::TellEvaluation(absl::Span<const float> params,
                                         absl::Span<const EvalOutcome> outcomes,
                                         TellSummary* summary) {
  GDAQD_ASSIGN_OR_RETURN(*summary, InsertOutcomes(*archive_, params, outcomes));
  double sum = 0;
  int64_t counted = 0;
  for (const EvalOutcome& outcome : outcomes) {
    if (!outcome.error.empty() || outcome.diverged) continue;
    sum += outcome.fitness;
    ++counted;
    if (std::isnan(max_eval_return_) || outcome.fitness > max_eval_return_) {
      max_eval_return_ = outcome.fitness;
    }
  }
  if (counted > 0) last_eval_return_ = sum / static_cast<double>(counted);
  return absl::OkStatus();
}

absl::Status RlAlgorithm::Learn() {
  if (unpaid_steps_ == 0) return absl::OkStatus();
  const gdaqd::v1::RlConfig& rl = config_.rl();
  // Only the steps collected after the warm-up pay for updates (QDax's warmstart_buffer).
  const int64_t first_paying = std::max(exploration_steps_ - unpaid_steps_, rl.warmup_steps());
  const int64_t paying = std::max<int64_t>(0, exploration_steps_ - first_paying);
  owed_updates_ += rl.updates_per_step() * static_cast<double>(paying);
  unpaid_steps_ = 0;
  if (buffer_->size() == 0) return absl::OkStatus();
  while (owed_updates_ >= rl.publish_every()) {
    absl::StatusOr<LearnerReport> report =
        learner_->Train(rl.publish_every(), *buffer_, sample_rng_, interrupt_);
    if (!report.ok()) return AtGeneration(report.status(), rounds_asked_);
    GDAQD_ASSIGN_OR_RETURN(std::vector<float> actor, learner_->ActorParams());
    updates_ += report->updates;
    owed_updates_ -= rl.publish_every();
    critic_loss_ = report->critic_loss;
    if (!std::isnan(report->actor_loss)) actor_loss_ = report->actor_loss;
    sac_gauges_ = {report->alpha, report->alpha_loss, report->discriminator_loss,
                   report->intrinsic_reward, report->diversity_active};
    actor_ = std::move(actor);
    ++actor_version_;
  }
  return absl::OkStatus();
}

std::vector<MetricSpec> RlAlgorithm::metric_specs() const {
  using enum MetricKind;
  std::vector<MetricSpec> specs = {
      {"max_eval_return", "Best return of an evaluation episode (no noise); NaN before one.",
       kGauge},
      {"last_eval_return", "Mean return of the last evaluation round; NaN before one.", kGauge},
      {"env_steps", "Environment steps told, exploration and evaluation episodes alike.", kCounter},
      {"actor_version", "Version of the published actor (1: the initial random one).", kGauge},
      {"updates", "Gradient updates of the learner (TD3 critic steps, SAC updates).", kCounter},
      {"critic_loss", "Mean critic loss of the last published block; NaN before one.", kGauge},
      {"actor_loss",
       "Mean actor loss of the last block (TD3 -Q1(s, pi(s)); SAC alpha log pi - min Q); NaN "
       "before one.",
       kGauge},
      {"rejected_transition_episodes",
       "Episodes whose transitions the replay buffer refused (non-finite or malformed).", kCounter},
  };
  const int gauges = NumSacGauges(config_.algorithm());
  for (int i = 0; i < gauges; ++i) {
    specs.push_back({kSacGauges[i].name, kSacGauges[i].help, kGauge});
  }
  return specs;
}

std::vector<Metric> RlAlgorithm::metrics() const {
  std::vector<Metric> values = {
      {"max_eval_return", max_eval_return_},
      {"last_eval_return", last_eval_return_},
      {"env_steps", static_cast<double>(env_steps_)},
      {"actor_version", static_cast<double>(actor_version_)},
      {"updates", static_cast<double>(updates_)},
      {"critic_loss", critic_loss_},
      {"actor_loss", actor_loss_},
      {"rejected_transition_episodes", static_cast<double>(rejected_episodes_)},
  };
  const int gauges = NumSacGauges(config_.algorithm());
  for (int i = 0; i < gauges; ++i) values.push_back({kSacGauges[i].name, sac_gauges_[i]});
  return values;
}

absl::Status RlAlgorithm::SaveCheckpoint(std::ostream& out) const {
  WriteCoreHead(out, kRlMagic);
  GDAQD_RETURN_IF_ERROR(checkpoint::WriteReplayBuffer(out, *buffer_));
  GDAQD_ASSIGN_OR_RETURN(const std::string learner, learner_->Save());
  checkpoint::WriteBytes(out, learner);
  WriteCoreStreams(out);
  checkpoint::WriteRng(out, sample_rng_);
  checkpoint::WriteBytes(out, absl::string_view(reinterpret_cast<const char*>(actor_.data()),
                                                actor_.size() * sizeof(float)));
  for (const uint64_t value :
       {actor_version_, static_cast<uint64_t>(rounds_asked_), exploration_episodes_,
        static_cast<uint64_t>(env_steps_), static_cast<uint64_t>(exploration_steps_),
        static_cast<uint64_t>(unpaid_steps_), static_cast<uint64_t>(updates_),
        static_cast<uint64_t>(rejected_episodes_)}) {
    checkpoint::WriteU64(out, value);
  }
  for (const double value :
       {owed_updates_, critic_loss_, actor_loss_, max_eval_return_, last_eval_return_}) {
    checkpoint::WriteF64(out, value);
  }
  for (const double value : sac_gauges_) checkpoint::WriteF64(out, value);
  checkpoint::WriteU64(out, asked_.size());
  for (const Round& round : asked_) WriteRound(out, round.evaluation, round.plan);
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the RL checkpoint");
}

absl::Status RlAlgorithm::RestoreCheckpoint(std::istream& in) {
  GDAQD_ASSIGN_OR_RETURN(const int version, checkpoint::ReadMagicVersion(in, kRlPrefix, 1, 2));
  CoreState core;
  GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &core));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<models::ReplayBuffer> buffer,
                         checkpoint::ReadReplayBuffer(in, buffer_->row_size()));
  GDAQD_ASSIGN_OR_RETURN(const std::string blob,
                         checkpoint::ReadBytes(in, "learner", kMaxLearnerBytes));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<RlLearner> learner, MakeLearner(config_, layout_, actor_));
  GDAQD_RETURN_IF_ERROR(learner->Load(blob));
  GDAQD_RETURN_IF_ERROR(ReadCoreStreams(in, &core));
  std::mt19937_64 sample_rng;
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "sampling rng", &sample_rng));
  GDAQD_ASSIGN_OR_RETURN(const std::string actor_bytes,
                         checkpoint::ReadBytes(in, "actor", actor_.size() * sizeof(float)));
  if (actor_bytes.size() != actor_.size() * sizeof(float)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint actor has ", actor_bytes.size(),
                                                   " bytes, expected ",
                                                   actor_.size() * sizeof(float)));
  }
  uint64_t counters[8];
  for (uint64_t& value : counters) {
    GDAQD_ASSIGN_OR_RETURN(value, checkpoint::ReadU64(in, "counter"));
  }
  double gauges[5];
  for (double& value : gauges) {
    GDAQD_ASSIGN_OR_RETURN(value, checkpoint::ReadF64(in, "gauge"));
  }
  std::array<double, kNumSacGauges> sac_gauges;
  GDAQD_RETURN_IF_ERROR(ReadSacGauges(in, version, &sac_gauges));
  GDAQD_ASSIGN_OR_RETURN(const uint64_t rounds, checkpoint::ReadU64(in, "asked rounds"));
  if (rounds > 2) return absl::InvalidArgumentError(absl::StrCat(rounds, " asked rounds"));
  std::deque<Round> asked(rounds);
  for (Round& round : asked) {
    GDAQD_RETURN_IF_ERROR(ReadRound(in, &round.evaluation, &round.plan));
  }

  CommitCore(std::move(core));
  buffer_ = std::move(buffer);
  learner_ = std::move(learner);
  sample_rng_ = sample_rng;
  std::memcpy(actor_.data(), actor_bytes.data(), actor_bytes.size());
  actor_version_ = counters[0];
  rounds_asked_ = static_cast<int64_t>(counters[1]);
  exploration_episodes_ = counters[2];
  env_steps_ = static_cast<int64_t>(counters[3]);
  exploration_steps_ = static_cast<int64_t>(counters[4]);
  unpaid_steps_ = static_cast<int64_t>(counters[5]);
  updates_ = static_cast<int64_t>(counters[6]);
  rejected_episodes_ = static_cast<int64_t>(counters[7]);
  owed_updates_ = gauges[0];
  critic_loss_ = gauges[1];
  actor_loss_ = gauges[2];
  max_eval_return_ = gauges[3];
  last_eval_return_ = gauges[4];
  sac_gauges_ = sac_gauges;
  asked_ = std::move(asked);
  return absl::OkStatus();
}

}  // namespace gdaqd::server::rl
