#include "server/algorithms/map_elites.h"

#include <istream>
#include <ostream>
#include <utility>

#include "common/config/config.h"
#include "common/status_macros.h"
#include "server/emitters/isoline.h"

namespace gdaqd::server {
namespace {

constexpr char kMapElitesMagic[] = "GDQDME01";

}  // namespace

absl::StatusOr<std::unique_ptr<MapElites>> MapElites::Create(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  return std::unique_ptr<MapElites>(new MapElites(config, std::move(problem)));
}

MapElites::MapElites(gdaqd::v1::ExperimentConfig config, QdProblem problem)
    : AlgorithmCore(std::move(config), std::move(problem)) {}

absl::Status MapElites::Ask(int64_t count, std::vector<float>* params) {
  if (archive_->num_filled() > 0) {
    const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
    // Cannot fail: the archive is non-empty and count >= 0.
    absl::Status status = EmitIsoline(*archive_, count, isoline, rng_, params);
    if (status.ok()) return absl::OkStatus();
  }
  DrawRandomPolicies(count, params);
  return absl::OkStatus();
}

absl::StatusOr<TellSummary> MapElites::Tell(absl::Span<const float> params,
                                            absl::Span<const EvalOutcome> outcomes) {
  return InsertOutcomes(*archive_, params, outcomes);
}

// The format is the core's alone: magic, archive, selection RNG, random-network count.
absl::Status MapElites::SaveCheckpoint(std::ostream& out) const {
  return SaveCore(out, kMapElitesMagic, "MAP-Elites");
}

absl::Status MapElites::RestoreCheckpoint(std::istream& in) {
  return RestoreCore(in, kMapElitesMagic);
}

}  // namespace gdaqd::server
