#include "server/algorithms/map_elites.h"

#include <istream>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/archive/cvt_archive.h"
#include "server/archive/grid_archive.h"
#include "server/emitters/isoline.h"

namespace gdaqd::server {
namespace {

constexpr char kMapElitesMagic[] = "GDQDME01";

}  // namespace

absl::StatusOr<std::unique_ptr<ArchiveInterface>> MakeArchive(
    const gdaqd::v1::ExperimentConfig& config, const common::TaskSpec& spec, int64_t num_params,
    const CancelFlag* interrupt) {
  const auto& archive = config.archive();
  if (archive.type() == gdaqd::v1::ArchiveConfig::CVT) {
    CvtSpec cvt;
    cvt.low = spec.descriptor_low;
    cvt.high = spec.descriptor_high;
    cvt.num_centroids = archive.num_centroids();
    cvt.num_samples = archive.cvt_samples();
    cvt.seed = config.seed();
    cvt.num_params = num_params;
    cvt.cancel = interrupt;
    GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<CvtArchive> cvt_archive, CvtArchive::Create(cvt));
    return std::unique_ptr<ArchiveInterface>(std::move(cvt_archive));
  }
  GridSpec grid;
  grid.low = spec.descriptor_low;
  grid.high = spec.descriptor_high;
  grid.cells_per_dim.assign(archive.cells_per_dim().begin(), archive.cells_per_dim().end());
  grid.num_params = num_params;
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<GridArchive> grid_archive, GridArchive::Create(grid));
  return std::unique_ptr<ArchiveInterface>(std::move(grid_archive));
}

void RandomPolicies(const common::MlpLayout& layout, uint64_t seed, int64_t count, uint64_t* drawn,
                    std::vector<float>* params) {
  const int64_t num_params = layout.num_params();
  params->resize(count * num_params);
  for (int64_t i = 0; i < count; ++i) {
    // Each random network has its own stream: seed x large odd constant + index.
    const uint64_t stream = seed * 0x9E3779B97F4A7C15ULL + (*drawn)++;
    common::InitLecunUniform(layout, stream,
                             absl::Span<float>(params->data() + i * num_params, num_params));
  }
}

absl::StatusOr<TellSummary> InsertOutcomes(ArchiveInterface& archive,
                                           absl::Span<const float> params,
                                           absl::Span<const EvalOutcome> outcomes) {
  const int64_t num_params = archive.num_params();
  if (static_cast<int64_t>(params.size()) != static_cast<int64_t>(outcomes.size()) * num_params) {
    return absl::InvalidArgumentError(absl::StrCat("Tell: ", params.size(), " parameters for ",
                                                   outcomes.size(), " outcomes of ", num_params));
  }
  TellSummary summary;
  const size_t descriptor_dim = static_cast<size_t>(archive.descriptor_dim());
  std::vector<float> descriptors, fitnesses, kept_params;
  descriptors.reserve(outcomes.size() * descriptor_dim);
  fitnesses.reserve(outcomes.size());
  size_t usable = 0;
  for (const EvalOutcome& outcome : outcomes) usable += outcome.error.empty() && !outcome.diverged;
  // Parameters are the bulk of a batch (18 MB for 1,000 PointMaze policies): pass them through
  // when every outcome is kept, copy only the kept rows otherwise.
  const bool keep_all = usable == outcomes.size();
  if (!keep_all) kept_params.reserve(usable * static_cast<size_t>(num_params));
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const EvalOutcome& outcome = outcomes[i];
    if (!outcome.error.empty()) {
      ++summary.failed;
      continue;
    }
    if (outcome.diverged) {
      ++summary.diverged;
      continue;
    }
    descriptors.insert(descriptors.end(), outcome.descriptor.begin(), outcome.descriptor.end());
    fitnesses.push_back(outcome.fitness);
    if (!keep_all) {
      kept_params.insert(kept_params.end(), params.begin() + i * num_params,
                         params.begin() + (i + 1) * num_params);
    }
  }
  GDAQD_ASSIGN_OR_RETURN(
      std::vector<InsertOutcome> inserted,
      archive.InsertBatch(descriptors, fitnesses,
                          keep_all ? params : absl::Span<const float>(kept_params)));
  for (const InsertOutcome& outcome : inserted) {
    switch (outcome.status) {
      case InsertStatus::kNew:
        ++summary.added;
        break;
      case InsertStatus::kImproved:
        ++summary.improved;
        break;
      case InsertStatus::kNotAdded:
        ++summary.not_added;
        break;
    }
  }
  return summary;
}

absl::StatusOr<std::unique_ptr<MapElites>> MapElites::Create(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  return std::unique_ptr<MapElites>(new MapElites(
      config, std::move(problem.spec), std::move(problem.layout), std::move(problem.archive)));
}

absl::StatusOr<QdProblem> MakeQdProblem(const gdaqd::v1::ExperimentConfig& config,
                                        const CancelFlag* interrupt) {
  QdProblem problem;
  GDAQD_ASSIGN_OR_RETURN(problem.spec,
                         common::GetTaskSpec(config.env().task(), config.env().episode_length()));
  GDAQD_ASSIGN_OR_RETURN(problem.layout, common::PolicyLayout(config.env(), config.policy()));
  GDAQD_ASSIGN_OR_RETURN(problem.archive,
                         MakeArchive(config, problem.spec, problem.layout.num_params(), interrupt));
  return problem;
}

MapElites::MapElites(gdaqd::v1::ExperimentConfig config, common::TaskSpec spec,
                     common::MlpLayout layout, std::unique_ptr<ArchiveInterface> archive)
    : config_(std::move(config)),
      spec_(std::move(spec)),
      layout_(std::move(layout)),
      archive_(std::move(archive)),
      rng_(config_.seed()) {}

absl::Status MapElites::Ask(int64_t count, std::vector<float>* params) {
  if (archive_->num_filled() > 0) {
    const IsolineParams isoline{config_.emitter().iso_sigma(), config_.emitter().line_sigma()};
    // Cannot fail: the archive is non-empty and count >= 0.
    absl::Status status = EmitIsoline(*archive_, count, isoline, rng_, params);
    if (status.ok()) return absl::OkStatus();
  }
  RandomPolicies(layout_, config_.seed(), count, &random_policies_, params);
  return absl::OkStatus();
}

absl::StatusOr<TellSummary> MapElites::Tell(absl::Span<const float> params,
                                            absl::Span<const EvalOutcome> outcomes) {
  return InsertOutcomes(*archive_, params, outcomes);
}

int64_t StoreTransitions(models::ReplayBuffer& buffer, absl::Span<const EvalOutcome> outcomes,
                         absl::Span<const models::Provenance> provenance) {
  int64_t rejected = 0;
  for (size_t i = 0; i < outcomes.size() && i < provenance.size(); ++i) {
    const EvalOutcome& outcome = outcomes[i];
    if (!outcome.error.empty() || outcome.diverged || outcome.transitions.empty()) continue;
    if (!buffer.Add(provenance[i], outcome.transitions).ok()) ++rejected;
  }
  return rejected;
}

absl::Status MapElites::SaveCheckpoint(std::ostream& out) const {
  out.write(kMapElitesMagic, 8);
  checkpoint::WriteArchive(out, *archive_);
  checkpoint::WriteRng(out, rng_);
  checkpoint::WriteU64(out, random_policies_);
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the MAP-Elites checkpoint");
}

absl::Status MapElites::RestoreCheckpoint(std::istream& in) {
  GDAQD_RETURN_IF_ERROR(checkpoint::ExpectMagic(in, kMapElitesMagic));
  GDAQD_ASSIGN_OR_RETURN(std::unique_ptr<ArchiveInterface> archive,
                         checkpoint::ReadArchive(in, *archive_));
  std::mt19937_64 rng;
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "selection RNG", &rng));
  GDAQD_ASSIGN_OR_RETURN(uint64_t random_policies, checkpoint::ReadU64(in, "random policies"));
  archive_ = std::move(archive);
  rng_ = rng;
  random_policies_ = random_policies;
  return absl::OkStatus();
}

}  // namespace gdaqd::server
