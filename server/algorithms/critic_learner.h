// The TD3 side shared by PGA-ME and GDA-QD (research/algorithms.md §2.3-2.4): the learner is made
// from the first policy told (the greedy actor starts as it, as in QDax), trained on the replay
// buffer after every evaluated batch, and turns parents into policy-gradient children.
//
// Torch-free header (Td3 is only declared), so the algorithms' headers stay light.
#ifndef GDAQD_SERVER_ALGORITHMS_CRITIC_LEARNER_H_
#define GDAQD_SERVER_ALGORITHMS_CRITIC_LEARNER_H_

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "gdaqd/v1/config.pb.h"
#include "server/models/replay_buffer.h"

namespace gdaqd::server {

namespace models {
class Td3;
struct PolicyShape;
}  // namespace models

// The batched-policy shape of a config's policy network.
models::PolicyShape MakePolicyShape(const gdaqd::v1::ExperimentConfig& config,
                                    const common::MlpLayout& layout);

// Single-thread (owned by one algorithm). Deterministic given the config seed, up to LibTorch.
class CriticLearner {
 public:
  // Validates the pga.* learner settings and the policy shape. InvalidArgument naming the field.
  static absl::StatusOr<std::unique_ptr<CriticLearner>> Create(
      const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout);
  ~CriticLearner();

  // Creates the TD3 learner on the first call with a whole policy (greedy actor = the first
  // num_params floats of `params`); later calls do nothing. Internal if LibTorch fails.
  absl::Status EnsureStarted(absl::Span<const float> params);
  // True once started and `buffer` can give a minibatch (at least critic_batch_size rows).
  bool CanLearn(const models::ReplayBuffer& buffer) const;
  // One generation of critic and greedy-actor training (pga.critic_steps critic steps) on
  // minibatches drawn uniformly from the whole buffer. Precondition: CanLearn(buffer).
  // `interrupt` (may be null) is polled every step: Cancelled once set. Internal "critic loss
  // became non-finite ..." / "actor loss ..." if a loss diverges (the learner is then unusable),
  // Internal for LibTorch failures, ResourceExhausted if out of memory.
  absl::Status Train(const models::ReplayBuffer& buffer, const std::atomic<bool>* interrupt);
  // Policy-gradient children of `parents` [n, num_params] (fresh Adam each, pga.pg_steps steps
  // against the frozen critic). Precondition: CanLearn(buffer). Polls `interrupt` (may be null)
  // every step: Cancelled once set. Internal "policy-gradient loss became non-finite ..." if the
  // children's loss diverges.
  absl::StatusOr<std::vector<float>> Children(const std::vector<float>& parents,
                                              const models::ReplayBuffer& buffer,
                                              const std::atomic<bool>* interrupt);
  // The greedy actor's flat parameters. Precondition: started.
  absl::StatusOr<std::vector<float>> GreedyActor() const;

  // Appends the learner's state: whether it started, the TD3 networks, targets and optimisers,
  // the minibatch RNG and the counters.
  absl::Status Save(std::ostream& out) const;
  // Reads what Save() wrote into a new learner for `config` and `layout` (as Create()).
  static absl::StatusOr<std::unique_ptr<CriticLearner>> Restore(
      std::istream& in, const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout);

  bool started() const { return td3_ != nullptr; }
  int64_t train_calls() const { return train_calls_; }
  double last_critic_loss() const { return last_critic_loss_; }  // NaN before any training

 private:
  CriticLearner(const gdaqd::v1::ExperimentConfig& config, const common::MlpLayout& layout);
  // Rows for Td3 (uniform with replacement over the whole buffer); empty on failure, which Td3
  // then reports as a size mismatch.
  void SampleRows(const models::ReplayBuffer& buffer, int64_t n, std::vector<float>* rows);

  const gdaqd::v1::ExperimentConfig config_;
  const common::MlpLayout layout_;
  std::unique_ptr<models::Td3> td3_;  // null until EnsureStarted
  std::mt19937_64 sample_rng_;        // replay minibatches
  int64_t train_calls_ = 0;
  double last_critic_loss_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_CRITIC_LEARNER_H_
