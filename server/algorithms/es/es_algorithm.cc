#include "server/algorithms/es/es_algorithm.h"

#include <algorithm>
#include <istream>
#include <limits>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/algorithm_rules.h"
#include "common/config/algorithms/es_rules.h"
#include "common/config/config.h"
#include "common/seeds.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"
#include "server/algorithms/map_elites.h"

namespace gdaqd::server::es {
namespace {

// 02: the archive, selection RNG and random-network count moved into AlgorithmCore's pieces.
constexpr char kEsMagic[] = "GDQDES02";

bool Usable(const EvalOutcome& outcome) { return outcome.error.empty() && !outcome.diverged; }

AdamSettings MakeAdam(const gdaqd::v1::EsConfig& es) {
  AdamSettings adam;
  adam.learning_rate = es.learning_rate();
  adam.beta1 = es.adam_beta1();
  adam.beta2 = es.adam_beta2();
  adam.epsilon = es.adam_epsilon();
  adam.l2 = es.l2_coefficient();
  return adam;
}

std::vector<float> Row(absl::Span<const float> params, int64_t row, int64_t num_params) {
  return std::vector<float>(params.begin() + row * num_params,
                            params.begin() + (row + 1) * num_params);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EsAlgorithm>> EsAlgorithm::Create(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  GDAQD_RETURN_IF_ERROR(common::ValidateExperimentConfig(config));
  if (!common::IsEsAlgorithm(config.algorithm())) {
    return absl::InvalidArgumentError(
        absl::StrCat("algorithm: EsAlgorithm needs ES, NS_ES, NSR_ES, NSRA_ES or ME_ES, got ",
                     common::AlgorithmName(config.algorithm())));
  }
  GDAQD_ASSIGN_OR_RETURN(QdProblem problem, MakeQdProblem(config, interrupt));
  return std::unique_ptr<EsAlgorithm>(new EsAlgorithm(config, std::move(problem)));
}

EsAlgorithm::EsAlgorithm(gdaqd::v1::ExperimentConfig config, QdProblem problem)
    : AlgorithmCore(std::move(config), std::move(problem)),
      adam_(MakeAdam(config_.es())),
      novelty_(spec_.descriptor_dim, config_.es().novelty_archive_size()),
      nsra_(config_.es().nsra_initial_weight(), config_.es().nsra_weight_delta(),
            config_.es().nsra_stagnation()) {
  rng_.seed(common::DeriveSeed(config_.seed(), common::kSeedStreamEsSelection, 0));
  if (!novelty_es()) state_.lineages.resize(1);  // ES's centre, ME-ES's parent
}

bool EsAlgorithm::novelty_es() const { return common::IsNoveltyEsAlgorithm(config_.algorithm()); }

std::vector<MetricSpec> EsAlgorithm::metric_specs() const {
  using enum MetricKind;
  return {
      {"es_generations", "ES generations told (steps of the search distribution).", kCounter},
      {"es_reward_weight",
       "Weight of the reward in the utilities of the next generation (ES 1, NS-ES 0, NSR-ES 0.5, "
       "NSRA-ES adaptive, ME-ES 0 while exploring).",
       kGauge},
      {"es_best_offspring_reward",
       "Best reward of a centre or offspring so far; NaN before one is evaluated.", kGauge},
      {"es_offspring_reward",
       "Reward of the last generation's centre or offspring; NaN if it was not evaluated.", kGauge},
      {"es_mean_novelty",
       "Mean novelty of the last generation's pair episodes (0 for ES and for ME-ES's "
       "exploit blocks).",
       kGauge},
      {"es_used_pairs", "Antithetic pairs of the last generation with both episodes usable.",
       kGauge},
      {"es_parent", "Lineage (NS-*) or archive cell (ME-ES) the last generation stepped.", kGauge},
      {"es_explore", "ME-ES: 1 if the last generation was an explore block, else 0.", kGauge},
      {"novelty_archive_size", "Descriptors in the novelty archive.", kGauge},
  };
}

std::vector<Metric> EsAlgorithm::metrics() const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto reward = [nan](double r) { return r == kNoReward ? nan : r; };
  const EsGenerationRecord* last = state_.history.empty() ? nullptr : &state_.history.back();
  return {
      {"es_generations", static_cast<double>(state_.es_generations)},
      {"es_reward_weight", reward_weight()},
      {"es_best_offspring_reward", reward(state_.best_reward)},
      {"es_offspring_reward", last ? reward(last->offspring_reward) : nan},
      {"es_mean_novelty", last ? last->mean_novelty : nan},
      {"es_used_pairs", last ? static_cast<double>(last->used_pairs) : nan},
      {"es_parent", last ? static_cast<double>(last->parent) : nan},
      {"es_explore", last ? (last->explore ? 1.0 : 0.0) : nan},
      {"novelty_archive_size", static_cast<double>(novelty_.size())},
  };
}

double EsAlgorithm::reward_weight() const {
  switch (config_.algorithm()) {
    case gdaqd::v1::NS_ES:
      return 0.0;
    case gdaqd::v1::NSR_ES:
      return 0.5;
    case gdaqd::v1::NSRA_ES:
      return nsra_.weight();
    case gdaqd::v1::ME_ES:
      return MeEsExplores(static_cast<int64_t>(state_.es_generations),
                          config_.es().me_es_steps_per_parent())
                 ? 0.0
                 : 1.0;
    default:
      return 1.0;
  }
}

absl::Status EsAlgorithm::Ask(int64_t count, std::vector<float>* params) {
  if (state_.pending.active) {
    return absl::FailedPreconditionError(
        "Ask: the previous generation was not told yet (ES generations are sequential)");
  }
  if (count < 0) return absl::InvalidArgumentError(absl::StrCat("Ask: count ", count, " < 0"));
  PendingBatch pending;
  pending.active = true;
  pending.count = count;
  params->assign(static_cast<size_t>(count * layout_.num_params()), 0.0f);
  if (count > 0 && config_.algorithm() != gdaqd::v1::ES && !state_.initialised) {
    pending.initial = true;
    DrawRandomPolicies(count, params);
  } else if (count > 0) {
    ChooseParent(&pending);
    pending.offspring_slot = config_.es().evaluate_centre();
    pending.pairs = (count - (pending.offspring_slot ? 1 : 0)) / 2;
    pending.noise_seed =
        common::DeriveSeed(config_.seed(), common::kSeedStreamEsNoise, state_.es_generations);
    FillGeneration(pending, params);
  }
  state_.pending = pending;
  return absl::OkStatus();
}

void EsAlgorithm::ChooseParent(PendingBatch* pending) {
  std::vector<float> drawn;
  if (novelty_es()) {
    if (state_.lineages.empty()) {  // every initial row was lost: start one member afresh
      DrawRandomPolicies(1, &drawn);
      state_.lineages.push_back(Lineage{drawn, {}, {}, kNoReward});
    }
    std::vector<double> novelties;
    for (const Lineage& member : state_.lineages) {
      novelties.push_back(member.descriptor.empty()
                              ? 0.0
                              : novelty_.Novelty(member.descriptor, config_.es().novelty_k()));
    }
    pending->parent = SampleProportional(novelties, rng_);
    return;
  }
  pending->parent = 0;
  if (config_.algorithm() == gdaqd::v1::ME_ES) {
    const int64_t k = config_.es().me_es_steps_per_parent();
    const int64_t generation = static_cast<int64_t>(state_.es_generations);
    pending->explore = MeEsExplores(generation, k);
    if (MeEsNewParent(generation, k)) ChooseMeEsParent(pending->explore);
  }
  if (state_.lineages[0].theta.empty()) {  // ES's first centre, or ME-ES on an empty grid
    DrawRandomPolicies(1, &drawn);
    state_.lineages[0].theta = std::move(drawn);
  }
}

void EsAlgorithm::ChooseMeEsParent(bool explore) {
  Lineage& parent = state_.lineages[0];
  parent.adam = AdamState();  // a new parent starts a fresh optimiser ([Q2])
  const std::vector<int64_t> cells = archive_->filled_cells();
  if (cells.empty()) return;  // keep the current parent (or draw a random one)
  std::vector<double> values;
  for (int64_t cell : cells) {
    const EliteView elite = *archive_->elite(cell);
    values.push_back(explore ? novelty_.Novelty(elite.descriptor, config_.es().novelty_k())
                             : elite.fitness);
  }
  if (explore) {
    const int64_t chosen = ChooseExploreParent(values, config_.es().me_es_explore_pool(), rng_);
    const EliteView elite = *archive_->elite(cells[chosen]);
    parent.theta.assign(elite.params.begin(), elite.params.end());
    return;
  }
  std::vector<double> recent;
  for (const RecentElite& elite : state_.recent) recent.push_back(elite.reward);
  const EliteChoice choice =
      ChooseExploitParent(values, recent, config_.es().me_es_exploit_pool(), rng_);
  if (choice.from_recent) {
    parent.theta = state_.recent[choice.source].theta;
  } else {
    const EliteView elite = *archive_->elite(cells[choice.source]);
    parent.theta.assign(elite.params.begin(), elite.params.end());
  }
}

void EsAlgorithm::FillGeneration(const PendingBatch& pending, std::vector<float>* params) {
  const int64_t num_params = layout_.num_params();
  int64_t row = 0;
  if (pending.offspring_slot) {
    std::vector<float> first =
        config_.algorithm() == gdaqd::v1::ES ? state_.lineages[0].theta : state_.offspring;
    if (first.empty()) {  // no offspring yet: a random network ([M]'s first offspring)
      DrawRandomPolicies(1, &first);
    }
    std::copy(first.begin(), first.end(), params->begin());
    row = 1;
  }
  const std::vector<float>& theta = state_.lineages[pending.parent].theta;
  const float sigma = config_.es().sigma();
  std::vector<float> eps(static_cast<size_t>(num_params));
  for (int64_t pair = 0; row < pending.count; ++pair) {
    PairNoise(pending.noise_seed, pair, absl::MakeSpan(eps));
    for (float sign : {1.0f, -1.0f}) {
      if (row >= pending.count) break;  // the unpaired last row
      float* out = params->data() + row * num_params;
      for (int64_t j = 0; j < num_params; ++j) out[j] = theta[j] + sign * sigma * eps[j];
      ++row;
    }
  }
}

absl::StatusOr<TellSummary> EsAlgorithm::Tell(absl::Span<const float> params,
                                              absl::Span<const EvalOutcome> outcomes) {
  const PendingBatch pending = state_.pending;
  const int64_t num_params = layout_.num_params();
  if (!pending.active) return absl::FailedPreconditionError("Tell: nothing was asked");
  if (static_cast<int64_t>(outcomes.size()) != pending.count) {
    return absl::FailedPreconditionError(
        absl::StrCat("Tell: ", outcomes.size(), " outcomes for a generation of ", pending.count));
  }
  if (static_cast<int64_t>(params.size()) != pending.count * num_params) {
    return absl::InvalidArgumentError(absl::StrCat("Tell: ", params.size(), " parameters for ",
                                                   outcomes.size(), " outcomes of ", num_params));
  }
  // Row 0 alone first, to know whether it took a cell (ME-ES's recent ring).
  const int64_t first = pending.offspring_slot ? 1 : 0;
  bool kept = false;
  TellSummary summary;
  if (first == 1 && Usable(outcomes[0])) {
    GDAQD_ASSIGN_OR_RETURN(InsertOutcome inserted,
                           archive_->Insert(outcomes[0].descriptor, outcomes[0].fitness,
                                            params.subspan(0, num_params)));
    kept = inserted.status != InsertStatus::kNotAdded;
    summary.added += inserted.status == InsertStatus::kNew;
    summary.improved += inserted.status == InsertStatus::kImproved;
    summary.not_added += inserted.status == InsertStatus::kNotAdded;
  }
  GDAQD_ASSIGN_OR_RETURN(
      TellSummary rest,
      InsertOutcomes(*archive_, params.subspan(first * num_params), outcomes.subspan(first)));
  summary.added += rest.added;
  summary.improved += rest.improved;
  summary.not_added += rest.not_added;
  for (int64_t i = 0; i < first; ++i) {
    summary.diverged += outcomes[i].error.empty() && outcomes[i].diverged;
    summary.failed += !outcomes[i].error.empty();
  }
  summary.diverged += rest.diverged;
  summary.failed += rest.failed;
  state_.pending = PendingBatch();
  if (pending.count == 0) return summary;
  if (pending.initial) {
    TellInitial(params, outcomes);
    return summary;
  }
  EsGenerationRecord record;
  if (first == 1) TellOffspring(params.subspan(0, num_params), outcomes[0], kept, &record);
  Step(pending, outcomes, &record);
  record.generation = static_cast<int64_t>(++state_.es_generations);
  record.best_reward = state_.best_reward;
  state_.history.push_back(record);
  return summary;
}

void EsAlgorithm::TellInitial(absl::Span<const float> params,
                              absl::Span<const EvalOutcome> outcomes) {
  state_.initialised = true;
  if (!novelty_es()) return;  // ME-ES: the random batch only fills the grid
  const int64_t members =
      std::min<int64_t>(config_.es().meta_population(), static_cast<int64_t>(outcomes.size()));
  double best = kNoReward;
  for (int64_t i = 0; i < members; ++i) {
    Lineage member;
    member.theta = Row(params, i, layout_.num_params());
    if (Usable(outcomes[i])) {
      member.descriptor = outcomes[i].descriptor;
      member.reward = outcomes[i].fitness;
      best = std::max(best, member.reward);
    }
    state_.lineages.push_back(std::move(member));
  }
  // NSRA's best reward starts at the best initial member (improvement is over what exists).
  nsra_.Set(nsra_.weight(), best, 0);
}

void EsAlgorithm::TellOffspring(absl::Span<const float> row, const EvalOutcome& outcome,
                                bool kept_in_grid, EsGenerationRecord* record) {
  if (!Usable(outcome)) return;
  const double reward = outcome.fitness;
  record->offspring_reward = reward;
  state_.best_reward = std::max(state_.best_reward, reward);
  if (config_.algorithm() == gdaqd::v1::ES) return;
  novelty_.Add(outcome.descriptor);
  if (novelty_es()) {
    const int64_t owner = state_.offspring_owner;
    if (owner >= 0 && owner < static_cast<int64_t>(state_.lineages.size())) {
      state_.lineages[owner].descriptor = outcome.descriptor;
      state_.lineages[owner].reward = reward;
    }
    if (config_.algorithm() == gdaqd::v1::NSRA_ES) nsra_.Observe(reward);
    return;
  }
  if (kept_in_grid) {  // ME-ES: remember the last cells it took
    state_.recent.push_back(RecentElite{std::vector<float>(row.begin(), row.end()), reward});
    if (static_cast<int64_t>(state_.recent.size()) > config_.es().me_es_recent_cells()) {
      state_.recent.erase(state_.recent.begin());
    }
  }
}

void EsAlgorithm::Step(const PendingBatch& pending, absl::Span<const EvalOutcome> outcomes,
                       EsGenerationRecord* record) {
  const int64_t first = pending.offspring_slot ? 1 : 0;
  std::vector<int64_t> pair_ids;
  for (int64_t pair = 0; pair < pending.pairs; ++pair) {
    const int64_t plus = first + 2 * pair;
    if (Usable(outcomes[plus]) && Usable(outcomes[plus + 1])) pair_ids.push_back(pair);
  }
  Lineage& parent = state_.lineages[pending.parent];
  record->parent = pending.parent;
  record->explore = pending.explore;
  record->reward_weight = reward_weight();
  record->used_pairs = static_cast<int64_t>(pair_ids.size());
  if (!pair_ids.empty()) {
    const std::vector<double> u = Utilities(pending, outcomes, pair_ids, &record->mean_novelty);
    const size_t n = pair_ids.size();
    std::vector<float> gradient(parent.theta.size());
    EstimateGradient(absl::MakeConstSpan(u).subspan(0, n), absl::MakeConstSpan(u).subspan(n),
                     pair_ids, pending.noise_seed, config_.es().sigma(), absl::MakeSpan(gradient));
    AdamAscentStep(adam_, gradient, &parent.adam, absl::MakeSpan(parent.theta));
  }
  // The stepped centre is the next offspring (ES evaluates lineage 0 directly).
  if (config_.algorithm() != gdaqd::v1::ES) state_.offspring = parent.theta;
  state_.offspring_owner = novelty_es() ? pending.parent : -1;
}

std::vector<double> EsAlgorithm::Utilities(const PendingBatch& pending,
                                           absl::Span<const EvalOutcome> outcomes,
                                           absl::Span<const int64_t> pair_ids,
                                           double* mean_novelty) const {
  const int64_t first = pending.offspring_slot ? 1 : 0;
  const size_t n = pair_ids.size();
  const gdaqd::v1::Algorithm algorithm = config_.algorithm();
  const bool novelty = novelty_es() || (algorithm == gdaqd::v1::ME_ES && pending.explore);
  std::vector<double> rewards(2 * n), novelties(2 * n, 0.0);
  double novelty_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    for (int64_t side = 0; side < 2; ++side) {
      const EvalOutcome& outcome = outcomes[first + 2 * pair_ids[i] + side];
      const size_t slot = i + static_cast<size_t>(side) * n;  // [plus..., minus...]
      rewards[slot] = outcome.fitness;
      if (novelty) {
        novelties[slot] = novelty_.Novelty(outcome.descriptor, config_.es().novelty_k());
        novelty_sum += novelties[slot];
      }
    }
  }
  *mean_novelty = novelty_sum / static_cast<double>(2 * n);
  if (algorithm == gdaqd::v1::NSR_ES || algorithm == gdaqd::v1::NSRA_ES) {
    return MixedUtilities(rewards, novelties, reward_weight());
  }
  return CentredRanks(novelty ? novelties : rewards);
}

absl::Status EsAlgorithm::SaveCheckpoint(std::ostream& out) const {
  WriteCoreHead(out, kEsMagic);
  checkpoint::WriteU64(out, static_cast<uint64_t>(config_.algorithm()));
  WriteCoreStreams(out);
  WriteEsState(out, state_);
  WriteFloats(out, novelty_.Ordered());
  checkpoint::WriteF64(out, nsra_.weight());
  checkpoint::WriteF64(out, nsra_.best());
  checkpoint::WriteU64(out, static_cast<uint64_t>(nsra_.stagnant()));
  return out ? absl::OkStatus() : absl::DataLossError("cannot write the ES checkpoint");
}

absl::Status EsAlgorithm::RestoreCheckpoint(std::istream& in) {
  GDAQD_RETURN_IF_ERROR(checkpoint::ExpectMagic(in, kEsMagic));
  CoreState core;
  GDAQD_RETURN_IF_ERROR(ReadCoreArchive(in, &core));
  GDAQD_ASSIGN_OR_RETURN(uint64_t algorithm, checkpoint::ReadU64(in, "algorithm"));
  if (algorithm != static_cast<uint64_t>(config_.algorithm())) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint is of algorithm ", algorithm,
                                                   ", this experiment runs ",
                                                   common::AlgorithmName(config_.algorithm())));
  }
  GDAQD_RETURN_IF_ERROR(ReadCoreStreams(in, &core));
  EsState state;
  GDAQD_RETURN_IF_ERROR(ReadEsState(in, layout_.num_params(), spec_.descriptor_dim, &state));
  GDAQD_ASSIGN_OR_RETURN(std::vector<float> descriptors,
                         ReadFloats(in, "novelty archive", spec_.descriptor_dim,
                                    static_cast<uint64_t>(novelty_.capacity()) *
                                        static_cast<uint64_t>(spec_.descriptor_dim)));
  NoveltyArchive novelty(novelty_.dim(), novelty_.capacity());
  GDAQD_RETURN_IF_ERROR(novelty.Restore(descriptors));
  GDAQD_ASSIGN_OR_RETURN(double weight, checkpoint::ReadF64(in, "NSRA weight"));
  GDAQD_ASSIGN_OR_RETURN(double best, checkpoint::ReadF64(in, "NSRA best reward"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t stagnant, checkpoint::ReadU64(in, "NSRA stagnation"));
  const bool parent_ok = !state.pending.active || state.pending.initial ||
                         state.pending.count == 0 ||
                         (state.pending.parent >= 0 &&
                          state.pending.parent < static_cast<int64_t>(state.lineages.size()));
  if (!parent_ok || (!novelty_es() && state.lineages.size() != 1)) {
    return absl::InvalidArgumentError("ES checkpoint's lineages do not fit this algorithm");
  }
  CommitCore(std::move(core));
  state_ = std::move(state);
  novelty_ = std::move(novelty);
  nsra_.Set(weight, best, static_cast<int64_t>(stagnant));
  return absl::OkStatus();
}

}  // namespace gdaqd::server::es
