// Experiment configuration: text-format loading, defaults and validation (STYLE.md §12).
// One function applies every default, one validates; both the client (before submitting) and the
// coordinator (on SubmitExperiment) call them, so a bad config is refused with the same message
// wherever it is caught.
#ifndef GDAQD_COMMON_CONFIG_CONFIG_H_
#define GDAQD_COMMON_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// Defaults of DESIGN.md §5 (QDax MAP-Elites notebooks).
inline constexpr int kDefaultHiddenSize = 64;
inline constexpr int kDefaultCellsPerDim = 50;
inline constexpr int kDefaultNumCentroids = 1024;
inline constexpr int kDefaultCvtSamples = 50000;
inline constexpr int kDefaultBatchSize = 100;
inline constexpr float kDefaultIsoSigma = 0.005f;
inline constexpr float kDefaultLineSigma = 0.05f;
inline constexpr double kDefaultLeaseTimeoutS = 120.0;
inline constexpr int kDefaultEpisodesPerLease = 8;

// The algorithms' own defaults live with their rules (common/config/algorithms/*_rules.h).

// Bounds on what a config may ask for (docs/durability.md §4). Strings are echoed in status
// messages and in `gdaqd status`, and every size here multiplies into memory, so validation
// refuses anything beyond them before the coordinator allocates; what passes is then sized by
// server/algorithms/resource_estimate.h. Lengths are in bytes.
inline constexpr int64_t kMaxConfigBytes = 64 * 1024;  // the serialized ExperimentConfig
inline constexpr int64_t kMaxNameBytes = 256;
inline constexpr int64_t kMaxTaskBytes = 64;
inline constexpr int64_t kMaxActivationBytes = 32;
inline constexpr int64_t kMaxDeviceBytes = 16;
inline constexpr int kMaxHiddenLayers = 8;   // policy, critic and ensemble networks
inline constexpr int kMaxHiddenSize = 4096;  // units per hidden layer
inline constexpr int kMaxEpisodeLength = 100'000;
inline constexpr int64_t kMaxGridCells = 10'000'000;  // = server::kMaxArchiveCells
inline constexpr int kMaxNumCentroids = 100'000;
inline constexpr int kMaxCvtSamples = 10'000'000;
inline constexpr int kMaxBatchSize = 100'000;  // emitter, initial population, minibatches
inline constexpr float kMaxSigma = 1000;       // emitter.iso_sigma and emitter.line_sigma
inline constexpr int64_t kMaxEvaluations = 1'000'000'000'000;
inline constexpr double kMinLeaseTimeoutS = 0.1;
inline constexpr double kMaxLeaseTimeoutS = 86'400;  // one day
inline constexpr int kMaxEpisodesPerLease = 1024;

// Trait lookups in the algorithm registry (algorithm_rules.h); false for an unknown algorithm.
// True for the algorithms that learn a dynamics model (DA_QD_EXT, GDA_QD).
bool UsesDynamicsModel(gdaqd::v1::Algorithm algorithm);
// True for the algorithms with a TD3 critic (PGA_ME, GDA_QD).
bool UsesCritic(gdaqd::v1::Algorithm algorithm);

// Fills every unset field with its default (idempotent): the generic sections here, then the
// algorithm's own through its rules' apply_defaults hook. Episode length and cells per dimension
// depend on the task, so an unknown task leaves them unset for Validate to report.
void ApplyDefaults(gdaqd::v1::ExperimentConfig* config);

// Checks a defaulted config against the rules of config.proto and the bounds above: the generic
// sections, then the algorithm's own through its rules' validate hook, then budget and scheduler.
// An algorithm the registry does not know gives "algorithm: <name> is not an algorithm (use
// <every registered name>)".
// InvalidArgument whose message starts with the offending field's path, e.g.
// "emitter.batch_size: must be in [1, 100000], got 0" or
// "name: must be at most 256 bytes, got 15728640". Never echoes an over-long string back.
// Cost is linear in the config's size; it allocates nothing proportional to the sizes asked for.
absl::Status ValidateExperimentConfig(const gdaqd::v1::ExperimentConfig& config);

// Parses text format, applies defaults and validates. InvalidArgument names the file and, for a
// parse error, the line and column; NotFound if the file does not exist.
absl::StatusOr<gdaqd::v1::ExperimentConfig> LoadExperimentConfig(const std::string& path);
absl::StatusOr<gdaqd::v1::ExperimentConfig> ParseExperimentConfig(const std::string& text);

// The policy network layout of a validated config on its task, kind and skills included
// (docs/policy_layout.md). InvalidArgument naming the field for an unknown task, more than
// kMaxHiddenLayers hidden layers, a size outside [1, kMaxHiddenSize], an unknown activation, an
// unknown policy.kind, policy.num_skills outside [0, 1000], policy.min_std outside (0, 10] for
// TANH_GAUSSIAN or set for DETERMINISTIC, or a TANH_GAUSSIAN output_activation other than identity.
absl::StatusOr<MlpLayout> PolicyLayout(const gdaqd::v1::EnvConfig& env,
                                       const gdaqd::v1::PolicyConfig& policy);

// Configs stored before env.action_map existed (checkpoints, results folders) ran point_maze with
// the QDax >= 0.2 map; this marks such a config (point_maze, action_map unset) CLIP_1_DIVIDE_10 so
// that a resumed run or a replay keeps the map it ran with. For stored configs only, before
// ApplyDefaults (which would write the paper's map); a config a user submits is not upgraded.
// Likewise a DA_QD_EXT / GDA_QD config without model.retrain_every ran with the old default 25
// and keeps it (new configs default to 1, the paper's every iteration).
void UpgradeStoredConfig(gdaqd::v1::ExperimentConfig* config);

// LoadExperimentConfig for a config a run stored (a results folder's config.textproto):
// UpgradeStoredConfig before the defaults.
absl::StatusOr<gdaqd::v1::ExperimentConfig> LoadStoredExperimentConfig(const std::string& path);

// The environment options env.action_map selects: UNSPECIFIED gives the defaults (the paper's
// map on point_maze, which ApplyDefaults also writes), CLIP_0_1 and CLIP_1_DIVIDE_10 the
// PointMazeActionMap of the same name. Every program that builds environments for a config's
// episodes (workers, the local evaluator, replay) passes this to MakeEnvironment().
// InvalidArgument naming env.action_map for a value outside the enum (it may come from the
// network) or a set value on a task other than point_maze.
absl::StatusOr<EnvironmentOptions> EnvironmentOptionsFromConfig(const gdaqd::v1::EnvConfig& env);

// Reads a whole file. NotFound / PermissionDenied / Internal with the path in the message.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_CONFIG_H_
