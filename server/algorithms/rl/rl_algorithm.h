// The deep-RL baselines of the paper's Table 1 as actor-learners on the existing workers
// (docs/design/rl_actor_learner.md, docs/algorithms.md "TD3 and the RL baselines"): TD3
// (Td3Learner) and SAC, DIAYN and SMERL (SacLearner), one RlLearner each.
//
// Rounds. Every Ask() is one round with the newest published actor: an exploration round of
// rl.episodes_per_round episodes (each with its own noise seed, DeriveSeed(seed,
// kSeedStreamRlNoise, exploration episode index), and std rl.exploration_std: TD3's Gaussian
// noise, 0 for the SAC family, whose workers sample the tanh-Gaussian policy with the seed), or,
// every rl.eval_every-th round, an evaluation round of rl.eval_episodes episodes without noise
// (TD3's actor, tanh(mu) for the SAC family). DIAYN and SMERL give exploration episode i the skill
// i mod policy.num_skills and run rl.eval_episodes episodes per skill in an evaluation round
// (skills 0, 1, ..., K - 1, 0, ...); their transitions are stored with the skill
// (sac_learner.h's wider rows).
// Tell() stores exploration transitions in the replay buffer and offers evaluation episodes to
// the MAP-Elites archive (the paper's Figure 3; QD-score and coverage for information), tracking
// max_eval_return. Learn() runs the updates the new exploration steps pay for
// (rl.updates_per_step per step once rl.warmup_steps are collected), in blocks of
// rl.publish_every updates, each block publishing a new actor version; updates owed short of a
// block carry over to the next Learn().
//
// Thread-safety: single-thread, like every QdAlgorithm.
#ifndef GDAQD_SERVER_ALGORITHMS_RL_RL_ALGORITHM_H_
#define GDAQD_SERVER_ALGORITHMS_RL_RL_ALGORITHM_H_

#include <array>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/rl/rl_learner.h"
#include "server/models/replay_buffer.h"

namespace gdaqd::server::rl {

inline constexpr int kNumSacGauges = 5;

class RlAlgorithm final : public AlgorithmCore {
 public:
  // InvalidArgument unless `config` is a valid, defaulted config of an RL algorithm with a
  // learner (TD3, SAC, DIAYN, SMERL); errors of building the archive, the buffer or the learner
  // otherwise. `interrupt` (may be null) is polled by Learn() every update and must outlive this.
  static absl::StatusOr<std::unique_ptr<RlAlgorithm>> Create(
      const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt);
  ~RlAlgorithm() override;

  // A round of `count` copies of the published actor; `count` is normally NextBatchSize()'s
  // (the runner may cut the last round at the budget). Never fails for count >= 0.
  absl::Status Ask(int64_t count, std::vector<float>* params) override;
  absl::Status AskEpisodes(int64_t count, std::vector<float>* params, EpisodePlan* plan) override;
  EpisodePlan PendingPlan() const override;
  // rl.eval_episodes (times policy.num_skills for DIAYN and SMERL) if the next round is an
  // evaluation round, else rl.episodes_per_round.
  int64_t NextBatchSize(int64_t wanted) const override;
  // FailedPrecondition without an asked round or if n is not its size; InvalidArgument if
  // params has the wrong size.
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override;
  absl::Status Learn() override;
  bool supports_prefetch() const override { return true; }
  bool needs_transitions() const override { return true; }
  absl::Status SaveCheckpoint(std::ostream& out) const override;
  absl::Status RestoreCheckpoint(std::istream& in) override;
  std::vector<MetricSpec> metric_specs() const override;
  std::vector<Metric> metrics() const override;

  uint64_t actor_version() const { return actor_version_; }
  const std::vector<float>& actor_params() const { return actor_; }

 private:
  // A round asked and not yet told.
  struct Round {
    bool evaluation = false;
    EpisodePlan plan;  // options [count] (exploration) or empty (evaluation), actor version
  };

  RlAlgorithm(gdaqd::v1::ExperimentConfig config, QdProblem problem,
              std::unique_ptr<models::ReplayBuffer> buffer, std::unique_ptr<RlLearner> learner,
              std::vector<float> actor, const CancelFlag* interrupt);

  // True if round `round` (0-based count of Asks) is an evaluation round.
  bool IsEvaluationRound(int64_t round) const;
  // Exploration: transitions into the buffer. Evaluation: archive and returns.
  // Skill methods store WidenTransitions() rows with the round's skills (sac_learner.h).
  void TellExploration(const Round& round, absl::Span<const EvalOutcome> outcomes,
                       TellSummary* summary);
  absl::Status TellEvaluation(absl::Span<const float> params,
                              absl::Span<const EvalOutcome> outcomes, TellSummary* summary);

  std::unique_ptr<models::ReplayBuffer> buffer_;
  std::unique_ptr<RlLearner> learner_;
  const CancelFlag* const interrupt_;  // may be null
  std::mt19937_64 sample_rng_;         // minibatch sampling

  std::vector<float> actor_;    // the published actor [num_params]
  uint64_t actor_version_ = 1;  // version of actor_ (1: the initial random actor)
  std::deque<Round> asked_;     // at most two (prefetch)
  int64_t rounds_asked_ = 0;
  uint64_t exploration_episodes_ = 0;  // noise-seed index of the next exploration episode
  int64_t env_steps_ = 0;              // every told episode's length
  int64_t exploration_steps_ = 0;      // exploration episodes' lengths (warm-up, updates owed)
  int64_t unpaid_steps_ = 0;           // exploration steps told since the last Learn()
  double owed_updates_ = 0;            // updates paid for and not yet run (< publish_every)
  int64_t updates_ = 0;
  int64_t rejected_episodes_ = 0;                 // episodes whose transitions the buffer refused
  double critic_loss_ = LearningStats::kNoValue;  // of the last published block
  double actor_loss_ = LearningStats::kNoValue;
  double max_eval_return_ = LearningStats::kNoValue;
  double last_eval_return_ = LearningStats::kNoValue;  // mean over the last evaluation round
  // The SAC family's gauges of the last published block (LearnerReport's alpha, alpha_loss,
  // discriminator_loss, intrinsic_reward, diversity_active; NaN where the method has none).
  std::array<double, kNumSacGauges> sac_gauges_ = {LearningStats::kNoValue, LearningStats::kNoValue,
                                                   LearningStats::kNoValue, LearningStats::kNoValue,
                                                   LearningStats::kNoValue};
};

}  // namespace gdaqd::server::rl

#endif  // GDAQD_SERVER_ALGORITHMS_RL_RL_ALGORITHM_H_
