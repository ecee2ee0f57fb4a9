// The evolution-strategy baselines of the paper's Table 1 as ask/tell loops: ES (OpenAI-ES,
// Salimans et al. 2017), NS-ES, NSR-ES and NSRA-ES (Conti et al. 2018) and ME-ES (Colas et al.
// 2020). docs/algorithms.md gives each update rule, its settings and sources, and where we
// differ from them.
//
// Generation = one batch. Ask(count) proposes one ES generation of `count` episodes (the
// experiment asks emitter.batch_size, 513 by default): row 0 is the centre (ES) or the last
// offspring (NS-*, ME-ES; a random network before there is one), then (count - 1) / 2
// antithetic pairs theta_p + sigma eps_i, theta_p - sigma eps_i around the parent theta_p, and
// with an even count one last unpaired theta_p + sigma eps that is evaluated but not used in
// the gradient. NS-* and ME-ES first ask a batch of random networks (initial_population; NS-*
// take the first es.meta_population of them as their members). Tell() offers every evaluated
// policy to the MAP-Elites archive of the task's grid (so QD-score and coverage compare with the
// other methods), processes row 0 (novelty archive, member descriptor, NSRA weight, ME-ES's
// recent ring), ranks the pairs' scores and takes one Adam step on the parent. Every episode is
// one evaluation (paper section 4.1).
#ifndef GDAQD_SERVER_ALGORITHMS_ES_ES_ALGORITHM_H_
#define GDAQD_SERVER_ALGORITHMS_ES_ES_ALGORITHM_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/mlp_policy.h"
#include "common/task.h"
#include "gdaqd/v1/config.pb.h"
#include "server/algorithms/algorithm.h"
#include "server/algorithms/algorithm_core.h"
#include "server/algorithms/es/es_selection.h"
#include "server/algorithms/es/es_state.h"
#include "server/algorithms/es/novelty_archive.h"
#include "server/archive/archive_interface.h"

namespace gdaqd::server::es {

// One class for the five methods: they share the generation, the ES step and the checkpoint,
// and differ in parent choice and score (config.algorithm()). Single-thread: owned and driven by
// one experiment runner; const methods may be called by others under the runner's lock.
// Deterministic given the config seed. needs_transitions() is false; no prefetch.
class EsAlgorithm final : public AlgorithmCore {
 public:
  // `config` must be validated with defaults applied and name ES, NS_ES, NSR_ES, NSRA_ES or
  // ME_ES; InvalidArgument otherwise. Cancelled if `interrupt` (may be null, not kept) is set
  // during CVT construction.
  static absl::StatusOr<std::unique_ptr<EsAlgorithm>> Create(
      const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt = nullptr);

  // Proposes one generation of `count` >= 0 policies (see the file comment), row-major
  // [count, num_params]. FailedPrecondition if the previous Ask() was not told yet.
  absl::Status Ask(int64_t count, std::vector<float>* params) override;

  // Takes the outcomes of the last Ask(), same order. Failed or diverged episodes are not
  // inserted, and a pair with one of them is left out of the gradient (no step if no pair is
  // left). FailedPrecondition if nothing was asked or n differs from the asked count;
  // InvalidArgument on size mismatches.
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override;

  // Saves the archive, centres, Adam states, novelty archive, NSRA weight, ME-ES ring, RNG,
  // counters, the batch in flight and the history. DataLoss if the stream fails.
  absl::Status SaveCheckpoint(std::ostream& out) const override;
  // InvalidArgument for another algorithm's or another shape's checkpoint, DataLoss if
  // truncated; this algorithm is unchanged on error.
  absl::Status RestoreCheckpoint(std::istream& in) override;

  bool needs_transitions() const override { return false; }
  // es_generations, es_reward_weight, es_best_offspring_reward, es_offspring_reward,
  // es_mean_novelty, es_used_pairs, es_parent, es_explore and novelty_archive_size
  // (docs/metrics.md); the same set for all five methods.
  std::vector<MetricSpec> metric_specs() const override;
  std::vector<Metric> metrics() const override;

  // One record per ES generation told (NSRA-ES's weight, the best reward, ...), oldest first.
  const std::vector<EsGenerationRecord>& history() const { return state_.history; }
  // NS-*: the members; ES: the single centre; ME-ES: the current parent.
  const std::vector<Lineage>& lineages() const { return state_.lineages; }
  const NoveltyArchive& novelty_archive() const { return novelty_; }
  // Current reward weight of the utilities (ES 1, NS-ES 0, NSR-ES 0.5, NSRA-ES adaptive).
  double reward_weight() const;

 private:
  EsAlgorithm(gdaqd::v1::ExperimentConfig config, QdProblem problem);

  bool novelty_es() const;
  // Picks the parent of the next generation (and for ME-ES loads it, resetting Adam).
  void ChooseParent(PendingBatch* pending);
  void ChooseMeEsParent(bool explore);
  // Writes row 0 and the pairs of a generation.
  void FillGeneration(const PendingBatch& pending, std::vector<float>* params);
  // Told: the random first batch; row 0 of a generation; the ES step.
  void TellInitial(absl::Span<const float> params, absl::Span<const EvalOutcome> outcomes);
  void TellOffspring(absl::Span<const float> row, const EvalOutcome& outcome, bool kept_in_grid,
                     EsGenerationRecord* record);
  void Step(const PendingBatch& pending, absl::Span<const EvalOutcome> outcomes,
            EsGenerationRecord* record);
  // Utilities of the usable pairs' samples, [u+ ..., u- ...] in `pair_ids` order.
  std::vector<double> Utilities(const PendingBatch& pending, absl::Span<const EvalOutcome> outcomes,
                                absl::Span<const int64_t> pair_ids, double* mean_novelty) const;

  const AdamSettings adam_;
  EsState state_;
  NoveltyArchive novelty_;
  NsraWeight nsra_;
};

}  // namespace gdaqd::server::es

#endif  // GDAQD_SERVER_ALGORITHMS_ES_ES_ALGORITHM_H_
