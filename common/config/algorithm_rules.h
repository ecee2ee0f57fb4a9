// The config half of the algorithm registry: for every algorithm, its enum value, its names, what
// it needs (traits), and the hooks that default and validate its own config fields. The config
// layer (ApplyDefaults, ValidateExperimentConfig), the client (results folders) and the
// coordinator's admission estimate look algorithms up here instead of switching on the enum, so
// adding an algorithm is its rules file, one line in the built-in table
// (common/config/algorithms/builtin_rules.cc) and its factory line in server/algorithms/registry.cc
// (docs/algorithms.md, "Adding an algorithm").
//
// Torch-free and server-free: the `gdaqd` client links it to validate configs before it submits.
//
// Thread-safety: thread-safe. The table holds the built-ins from the first call on; entries are
// never removed or changed, so a returned pointer stays valid for the life of the process.
#ifndef GDAQD_COMMON_CONFIG_ALGORITHM_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHM_RULES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// What an algorithm needs from the rest of the system.
struct AlgorithmTraits {
  // Has learned models that Learn() trains; only such an algorithm may run PIPELINED.
  bool learns = false;
  // Tell() needs each episode's transitions (EvalRequest::record_transitions, a replay buffer).
  bool needs_transitions = false;
  // Learns a dynamics ensemble (model.*): DA_QD_EXT, GDA_QD.
  bool uses_dynamics_model = false;
  // Has a TD3 critic (pga.* critic fields): PGA_ME, GDA_QD.
  bool uses_critic = false;
};

// One algorithm's config rules. Plain data; hooks may be null (nothing to default / validate).
struct AlgorithmRules {
  gdaqd::v1::Algorithm id = gdaqd::v1::ALGORITHM_UNSPECIFIED;
  std::string name;   // the enum's name, as configs and `gdaqd status` spell it: "PGA_ME"
  std::string label;  // for people (plots, results folders): "PGA-ME"
  AlgorithmTraits traits;
  // Fills the algorithm's own unset fields with their defaults (idempotent). Called by
  // ApplyDefaults after the generic defaults, so env, policy, archive and emitter are filled.
  void (*apply_defaults)(gdaqd::v1::ExperimentConfig* config) = nullptr;
  // For an algorithm whose defaults of the SHARED blocks differ from everyone's (the ES methods'
  // generation of 513 in emitter.batch_size): called by ApplyDefaults after env, policy and
  // archive, before the emitter, initial_population and scheduler defaults, so it sees which of
  // those fields the user left unset. Idempotent.
  void (*apply_shared_defaults)(gdaqd::v1::ExperimentConfig* config) = nullptr;
  // Checks the algorithm's own fields of a defaulted config; InvalidArgument naming the field
  // (config_checks.h). Called by ValidateExperimentConfig after the task, policy, archive and
  // emitter are known to be valid, before the budget and scheduler checks.
  absl::Status (*validate)(const gdaqd::v1::ExperimentConfig& config) = nullptr;
};

// The rules of `id`, or null if no algorithm has that id.
const AlgorithmRules* FindAlgorithmRules(gdaqd::v1::Algorithm id);

// Every registered algorithm, sorted by id.
std::vector<const AlgorithmRules*> AllAlgorithmRules();

// Adds an algorithm at runtime (tests, plug-ins; server code registers through
// server::RegisterAlgorithm, which adds the factory too). InvalidArgument for the id
// ALGORITHM_UNSPECIFIED or a negative one, or an empty name or label; AlreadyExists if the id or
// the name is taken (built-ins included). On error nothing is registered.
absl::Status RegisterAlgorithmRules(AlgorithmRules rules);

// The registered name of `id`; for an unregistered id its enum name, or its number if the enum
// has none (e.g. "900").
std::string AlgorithmName(gdaqd::v1::Algorithm id);

// InvalidArgument("algorithm: <name> is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT or
// GDA_QD)"), the list being every registered name in id order.
absl::Status UnknownAlgorithmError(gdaqd::v1::Algorithm id);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHM_RULES_H_
