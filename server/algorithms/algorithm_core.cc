#include "server/algorithms/algorithm_core.h"

#include <istream>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/seeds.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/archive/cvt_archive.h"
#include "server/archive/grid_archive.h"

namespace gdaqd::server {

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
    // Each random network has its own stream (the legacy derivation: results depend on it).
    const uint64_t stream = common::RandomPolicySeed(seed, (*drawn)++);
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

AlgorithmCore::AlgorithmCore(gdaqd::v1::ExperimentConfig config, QdProblem problem)
    : config_(std::move(config)),
      spec_(std::move(problem.spec)),
      layout_(std::move(problem.layout)),
      archive_(std::move(problem.archive)),
      rng_(config_.seed()) {}

void AlgorithmCore::WriteCoreHead(std::ostream& out, absl::string_view magic) const {
  out.write(magic.data(), 8);
  checkpoint::WriteArchive(out, *archive_);
}

void AlgorithmCore::WriteCoreStreams(std::ostream& out) const {
  checkpoint::WriteRng(out, rng_);
  checkpoint::WriteU64(out, random_policies_);
}

absl::Status AlgorithmCore::ReadCoreArchive(std::istream& in, CoreState* state) const {
  GDAQD_ASSIGN_OR_RETURN(state->archive, checkpoint::ReadArchive(in, *archive_));
  return absl::OkStatus();
}

absl::Status AlgorithmCore::ReadCoreStreams(std::istream& in, CoreState* state) const {
  GDAQD_RETURN_IF_ERROR(checkpoint::ReadRng(in, "selection RNG", &state->rng));
  GDAQD_ASSIGN_OR_RETURN(state->random_policies, checkpoint::ReadU64(in, "random policies"));
  return absl::OkStatus();
}

void AlgorithmCore::CommitCore(CoreState state) {
  archive_ = std::move(state.archive);
  rng_ = state.rng;
  random_policies_ = state.random_policies;
}

absl::Status AlgorithmCore::SaveCore(std::ostream& out, absl::string_view magic,
                                     absl::string_view what) const {
  WriteCoreHead(out, magic);
  WriteCoreStreams(out);
  return out ? absl::OkStatus()
             : absl::DataLossError(absl::StrCat("cannot write the ", what, " checkpoint"));
}

absl::Status AlgorithmCore::RestoreCore(std::istream& in, absl::string_view magic) {
  GDAQD_RETURN_IF_ERROR(checkpoint::ExpectMagic(in, magic));
  CoreState state;
  GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &state));
  GDAQD_RETURN_IF_ERROR(ReadCoreStreams(in, &state));
  CommitCore(std::move(state));
  return absl::OkStatus();
}

void AlgorithmCore::DrawRandomPolicies(int64_t count, std::vector<float>* params) {
  RandomPolicies(layout_, config_.seed(), count, &random_policies_, params);
}

}  // namespace gdaqd::server
