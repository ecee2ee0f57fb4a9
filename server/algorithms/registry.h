// The server half of the algorithm registry: which factory builds each algorithm. Together with
// its config rules (common/config/algorithm_rules.h) this is the only place an algorithm is
// named: MakeAlgorithm() looks the factory up here, the config layer, the client and the admission
// estimate look the rules up there. Adding an algorithm is its own files plus one line in each
// built-in table (docs/algorithms.md, "Adding an algorithm"); tests and plug-ins call
// RegisterAlgorithm() at runtime instead.
//
// Thread-safety: thread-safe. Entries are never removed, so a factory found stays valid.
#ifndef GDAQD_SERVER_ALGORITHMS_REGISTRY_H_
#define GDAQD_SERVER_ALGORITHMS_REGISTRY_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/algorithm_rules.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/scheduler/evaluator.h"

namespace gdaqd::server {

// Builds an algorithm from a validated, defaulted config whose algorithm is the factory's.
// `interrupt` (may be null) is polled by long steps and must outlive the algorithm (see
// MakeAlgorithm). Exceptions it throws are turned into statuses by MakeAlgorithm.
using AlgorithmFactory = absl::StatusOr<std::unique_ptr<QdAlgorithm>> (*)(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt);

// The factory of `id`, or null if none is registered.
AlgorithmFactory FindAlgorithmFactory(gdaqd::v1::Algorithm id);

// Registers an algorithm's config rules (common::RegisterAlgorithmRules) and its factory.
// InvalidArgument for a null factory or rules RegisterAlgorithmRules refuses; AlreadyExists if the
// id (or the name) is registered. On error nothing is registered.
absl::Status RegisterAlgorithm(common::AlgorithmRules rules, AlgorithmFactory factory);

// Internal naming the algorithms that have config rules but no factory, or a factory but no
// rules (runtime registrations included); OK when both tables agree. The factory table checks on
// first use that the built-in tables (builtin_rules.cc, registry.cc) list the same ids and aborts
// otherwise (a programming error); a server calls this at startup to fail before it serves.
absl::Status CheckAlgorithmRegistry();

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_REGISTRY_H_
