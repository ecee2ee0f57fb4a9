#include "server/algorithms/resource_estimate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/config/algorithm_rules.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/status_macros.h"
#include "common/task.h"
#include "server/algorithms/rl/replay_layout.h"
#include "server/archive/archive.h"

namespace gdaqd::server {
namespace {

using gdaqd::v1::ExperimentConfig;

static_assert(common::kMaxGridCells == kMaxArchiveCells, "validation and archive limits differ");

// Sums are taken in double (exact below 2^53 bytes, no overflow for any config) and saturate here.
constexpr double kSaturatedBytes = 4.611686018427387904e18;  // 2^62
constexpr double kFloat = 4;                                 // bytes per float32
constexpr double kDouble = 8;
// Bytes of an assignment besides its params: lease id, deadline, the env and policy configs
// (strings bounded by validation) and the episode's index and seed.
constexpr double kAssignmentEnvelopeBytes = 1024;
// Rows of the holdout the ensemble scores at each check (models::EnsembleConfig default).
constexpr double kEnsembleHoldoutRows = 1024;

// A config count as a double, negatives as 0 (validated configs have none; others must not
// overflow int arithmetic either).
double NonNeg(int64_t value) { return value > 0 ? static_cast<double>(value) : 0; }

// A config fraction clamped into [0, 1]; NaN counts as 1 (the larger estimate).
double Fraction(float value) { return !(value <= 1) ? 1 : std::max<double>(value, 0); }

int64_t Saturate(double bytes) {
  if (!(bytes > 0)) return 0;
  return static_cast<int64_t>(std::min(bytes, kSaturatedBytes));
}

// Floats of a dense MLP in -> hidden... -> out: sum over layers of in * out + out.
double MlpParams(double in, const std::vector<double>& hidden, double out) {
  double params = 0;
  for (double h : hidden) {
    params += in * h + h;
    in = h;
  }
  return params + in * out + out;
}

double Sum(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum;
}

std::vector<double> Sizes(const google::protobuf::RepeatedField<int32_t>& sizes) {
  std::vector<double> out;
  for (int32_t s : sizes) out.push_back(NonNeg(s));
  return out;
}

// Everything the parts below need, read once from the config and the task.
struct Shape {
  double obs = 0, action = 0, descriptor = 0, row = 0;  // row: floats per transition
  double stored_row = 0;  // floats per replay row: row, + the skill methods' extra columns
  double params = 0;      // one policy
  double episode_length = 0;
  double batch = 0;  // episodes per Ask(): the larger of batch_size and initial_population
  std::vector<double> policy_hidden, critic_hidden, ensemble_hidden;
  double ensemble_params = 0;  // all members
  double critic_params = 0;    // both twins
  bool transitions = false;    // the algorithm records transitions (replay buffer)
  bool model = false;          // traits.uses_dynamics_model: DA_QD_EXT, GDA_QD
  bool critic = false;         // traits.uses_critic: PGA_ME, GDA_QD
};

absl::StatusOr<Shape> MakeShape(const ExperimentConfig& config) {
  // PolicyLayout first: it bounds the task name before GetTaskSpec quotes it in an error.
  GDAQD_RETURN_IF_ERROR(common::PolicyLayout(config.env(), config.policy()).status());
  GDAQD_ASSIGN_OR_RETURN(common::TaskSpec spec, common::GetTaskSpec(config.env().task(), 0));
  Shape s;
  s.obs = spec.obs_dim;
  s.action = spec.action_dim;
  s.descriptor = spec.descriptor_dim;
  s.row = common::TransitionRowSize(spec.obs_dim, spec.action_dim);
  s.stored_row = config.has_rl() ? common::TransitionRowSize(
                                       spec.obs_dim, rl::StoredActionWidth(config, spec.action_dim))
                                 : s.row;
  s.policy_hidden = Sizes(config.policy().hidden_sizes());
  s.params = MlpParams(s.obs, s.policy_hidden, s.action);
  s.episode_length = NonNeg(config.env().episode_length());
  s.batch = std::max(NonNeg(config.emitter().batch_size()), NonNeg(config.initial_population()));
  const common::AlgorithmRules* rules = common::FindAlgorithmRules(config.algorithm());
  const common::AlgorithmTraits traits =
      rules == nullptr ? common::AlgorithmTraits{} : rules->traits;
  s.model = traits.uses_dynamics_model;
  s.critic = traits.uses_critic;
  s.transitions = traits.needs_transitions;
  if (s.model) {
    s.ensemble_hidden = Sizes(config.model().ensemble_hidden_sizes());
    s.ensemble_params = NonNeg(config.model().ensemble_members()) *
                        MlpParams(s.obs + s.action, s.ensemble_hidden, 2 * s.obs);
  }
  if (s.critic) {
    s.critic_hidden = Sizes(config.pga().critic_hidden_sizes());
    s.critic_params = 2 * MlpParams(s.obs + s.action, s.critic_hidden, 1);
  }
  return s;
}

double NumCells(const ExperimentConfig& config) {
  if (config.archive().type() == gdaqd::v1::ArchiveConfig::CVT) {
    return NonNeg(config.archive().num_centroids());
  }
  double cells = 1;
  for (int32_t n : config.archive().cells_per_dim()) cells *= NonNeg(n);
  return cells;
}

// DenseArchive: fitness [cells], descriptors [cells, dim], params [cells, P], centroids
// [cells, dim], all float32.
double ArchiveBytes(const ExperimentConfig& config, const Shape& s) {
  return NumCells(config) * (1 + 2 * s.descriptor + s.params) * kFloat;
}

// CvtArchive::Create's peak: the samples [n, dim] and Hamerly bounds (assignment, upper, lower)
// per sample, all 8 bytes; centroids, sums and shifts per centroid in double; the float result.
double CvtBytes(const ExperimentConfig& config, const Shape& s) {
  if (config.archive().type() != gdaqd::v1::ArchiveConfig::CVT) return 0;
  const double n = NonNeg(config.archive().cvt_samples());
  const double k = NonNeg(config.archive().num_centroids());
  return n * (s.descriptor + 3) * kDouble + k * (2 * s.descriptor + 3) * kDouble +
         k * s.descriptor * kFloat;
}

// models::ReplayBuffer at capacity: a row of floats, a provenance byte and a slot index (int32 in
// a deque) per transition.
// The RL methods size it with rl.replay_capacity (DIAYN's and SMERL's rows are wider:
// rl/replay_layout.h), the others with pga.replay_capacity.
double ReplayBytes(const ExperimentConfig& config, const Shape& s) {
  if (!s.transitions) return 0;
  const int64_t capacity =
      config.has_rl() ? config.rl().replay_capacity() : config.pga().replay_capacity();
  return NonNeg(capacity) * (s.stored_row * kFloat + 1 + 4);
}

// The dynamics ensemble: weights, gradients and two Adam moments; one training call's data
// (the rows gathered from the buffer, then inputs/targets, normalised copies and the train split,
// each [n, 2 * obs + action]); activations of a minibatch (forward, ReLU, backward) and of the
// holdout scoring.
double EnsembleBytes(const ExperimentConfig& config, const Shape& s) {
  if (!s.model) return 0;
  const auto& model = config.model();
  const double members = NonNeg(model.ensemble_members());
  const double rows = NonNeg(config.pga().replay_capacity());
  const double width = Sum(s.ensemble_hidden) + 2 * s.obs;
  const double training_data = rows * ((s.row + 3 * (2 * s.obs + s.action)) * kFloat + 16);
  const double activations =
      members * (3 * NonNeg(model.train_batch_size()) + 2 * kEnsembleHoldoutRows) * width * kFloat;
  return 4 * s.ensemble_params * kFloat + training_data + activations;
}

// TD3 (models::Td3): twin critics and the greedy actor, each with target, gradients and two Adam
// moments; one Train() samples critic_steps * batch rows at once (host and device copies);
// activations of both critics and their targets over a minibatch, and the actor's.
double CriticBytes(const ExperimentConfig& config, const Shape& s) {
  if (!s.critic) return 0;
  const auto& pga = config.pga();
  const double batch = NonNeg(pga.critic_batch_size());
  const double sampled = NonNeg(pga.critic_steps()) * batch * s.row * kFloat * 2;
  const double activations =
      batch * (2 * 2 * Sum(s.critic_hidden) + Sum(s.policy_hidden) + s.action) * 3 * kFloat;
  return 5 * (s.critic_params + s.params) * kFloat + sampled + activations;
}

// Policy-gradient children of one Ask(): parents, children (params, gradient, Adam moments) and
// output as [n, P]; pg_steps * batch sampled rows (host and device); activations of every child
// and the critic over a minibatch.
double GradientChildrenBytes(const ExperimentConfig& config, const Shape& s) {
  if (!s.critic) return 0;
  const auto& pga = config.pga();
  // The model-based algorithms make model.p_gradient of a batch by gradient; PGA-ME the rest of
  // its isoline fraction.
  const double fraction =
      s.model ? Fraction(config.model().p_gradient()) : Fraction(1 - pga.isoline_fraction());
  const double n = std::ceil(fraction * NonNeg(config.emitter().batch_size()));
  const double batch = NonNeg(pga.critic_batch_size());
  const double sampled = NonNeg(pga.pg_steps()) * batch * s.row * kFloat * 2;
  const double activations =
      n * batch * (Sum(s.policy_hidden) + s.action + Sum(s.critic_hidden) + 1) * 3 * kFloat;
  return 6 * n * s.params * kFloat + sampled + activations;
}

// One iteration: the batch's params three times (algorithm, evaluation request, encoded
// assignments), its transitions twice (staging and outcomes) when recorded, imagination's
// children (emitted, batched-policy tensor, kept) and pool of additions, gradient children.
double InFlightBytes(const ExperimentConfig& config, const Shape& s) {
  double bytes = 3 * s.batch * s.params * kFloat;
  if (s.transitions) bytes += 2 * s.batch * s.episode_length * s.row * kFloat;
  if (s.model) {
    const double imagined = NonNeg(config.model().imagined_batch_size());
    const double width = Sum(s.policy_hidden) + Sum(s.ensemble_hidden) + 2 * s.obs;
    bytes += (3 * imagined + s.batch) * s.params * kFloat + 2 * imagined * width * kFloat;
  }
  return bytes + GradientChildrenBytes(config, s);
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

namespace {

// "archive 1.2 GiB + replay buffer 270.0 MiB" (non-zero parts only; "nothing" if none).
std::string Breakdown(const ResourceEstimate& e) {
  const std::pair<const char*, int64_t> parts[] = {
      {"archive", e.archive}, {"imagined archive", e.imagined_archive},
      {"CVT k-means", e.cvt}, {"replay buffer", e.replay_buffer},
      {"models", e.models},   {"in flight", e.in_flight}};
  std::vector<std::string> named;
  for (const auto& [name, bytes] : parts) {
    if (bytes > 0) named.push_back(absl::StrCat(name, " ", FormatBytes(bytes)));
  }
  return named.empty() ? "nothing" : absl::StrJoin(named, " + ");
}

}  // namespace

std::string ResourceEstimate::ToString() const {
  return absl::StrCat(Breakdown(*this), " = ", FormatBytes(total));
}

absl::StatusOr<ModelParamCounts> CountModelParams(const ExperimentConfig& config) {
  GDAQD_ASSIGN_OR_RETURN(Shape s, MakeShape(config));
  return ModelParamCounts{.policy = Saturate(s.params),
                          .ensemble = Saturate(s.ensemble_params),
                          .critic = Saturate(s.critic_params)};
}

absl::StatusOr<ResourceEstimate> EstimateExperimentResources(const ExperimentConfig& config) {
  GDAQD_ASSIGN_OR_RETURN(Shape s, MakeShape(config));
  ResourceEstimate e;
  const double archive = ArchiveBytes(config, s);
  e.archive = Saturate(archive);
  e.imagined_archive = s.model ? e.archive : 0;
  e.cvt = Saturate(CvtBytes(config, s));
  e.replay_buffer = Saturate(ReplayBytes(config, s));
  e.models = Saturate(EnsembleBytes(config, s) + CriticBytes(config, s));
  e.in_flight = Saturate(InFlightBytes(config, s));
  // Each part is <= 2^62, so the sum cannot overflow before it saturates.
  e.total = Saturate(static_cast<double>(e.archive) + static_cast<double>(e.imagined_archive) +
                     static_cast<double>(e.cvt) + static_cast<double>(e.replay_buffer) +
                     static_cast<double>(e.models) + static_cast<double>(e.in_flight));
  e.largest_message = Saturate(std::max(s.params * kFloat + kAssignmentEnvelopeBytes,
                                        std::max<double>(kResultChunkBytes, s.row * kFloat)));
  return e;
}

absl::Status CheckAdmission(const ResourceEstimate& estimate, const AdmissionLimits& limits) {
  if (limits.max_message_bytes > 0 && estimate.largest_message > limits.max_message_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "experiment's largest message needs ~", FormatBytes(estimate.largest_message),
        " (one episode's policy parameters in an assignment), more than the gRPC message limit ",
        FormatBytes(limits.max_message_bytes), "; use smaller policy.hidden_sizes"));
  }
  const std::string needs = absl::StrCat("experiment needs ~", FormatBytes(estimate.total), " (",
                                         Breakdown(estimate), ")");
  if (limits.max_experiment_bytes > 0 && estimate.total > limits.max_experiment_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(needs, ", more than --max_experiment_bytes ",
                                                     FormatBytes(limits.max_experiment_bytes)));
  }
  if (limits.memory_budget_bytes > 0) {
    const int64_t committed = std::max<int64_t>(0, limits.committed_bytes);
    const int64_t left = std::max<int64_t>(0, limits.memory_budget_bytes - committed);
    if (estimate.total > left) {
      return absl::ResourceExhaustedError(
          absl::StrCat(needs, ", more than the ", FormatBytes(left), " left of --memory_budget ",
                       FormatBytes(limits.memory_budget_bytes), " (", FormatBytes(committed),
                       " held by other experiments)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::server
