// Selection and weighting rules of the novelty-seeking ES methods: NSR-ES's and NSRA-ES's mix of
// reward and novelty ranks and NSRA-ES's adaptive weight (Conti et al. 2018), the
// meta-population draw proportional to novelty ([U] novelty_prob, [M]), and ME-ES's
// explore/exploit schedule and elite pools (Colas et al. 2020, [Q2] mees_emitter.py).
// Pure functions and plain value types; thread-compatible.
#ifndef GDAQD_SERVER_ALGORITHMS_ES_ES_SELECTION_H_
#define GDAQD_SERVER_ALGORITHMS_ES_ES_SELECTION_H_

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "absl/types/span.h"

namespace gdaqd::server::es {

// Utilities of NSR-ES (weight 0.5) and NSRA-ES (weight w): w * CentredRanks(rewards) +
// (1 - w) * CentredRanks(novelties), element-wise ([U] nses.py, [C] es.py: ranks are averaged,
// not raw values). Precondition: equal sizes; weight in [0, 1].
std::vector<double> MixedUtilities(absl::Span<const double> rewards,
                                   absl::Span<const double> novelties, double weight);

// NSRA-ES's reward weight w (Conti et al. 2018): it starts at `initial`; an offspring reward
// above the best so far raises w by `delta` (toward reward) and resets the stagnation count;
// `stagnation` offspring in a row without a new best lower w by `delta` (toward novelty) and
// reset the count. w stays in [0, 1]. Plain value; copyable.
class NsraWeight {
 public:
  NsraWeight(double initial, double delta, int64_t stagnation)
      : weight_(initial), delta_(delta), stagnation_(stagnation) {}

  // Updates w with one generation's offspring reward.
  void Observe(double reward);

  double weight() const { return weight_; }
  double best() const { return best_; }           // -inf before the first reward
  int64_t stagnant() const { return stagnant_; }  // offspring since the last new best

  // Checkpoint access: sets the whole state.
  void Set(double weight, double best, int64_t stagnant) {
    weight_ = weight;
    best_ = best;
    stagnant_ = stagnant;
  }

 private:
  double weight_;
  double delta_;
  int64_t stagnation_;
  double best_ = -std::numeric_limits<double>::infinity();
  int64_t stagnant_ = 0;
};

// Draws index i with probability weights[i] / sum(weights) (NS-ES's parent choice: weights are
// the members' novelties). Uniform when every weight is 0 (e.g. an empty novelty archive).
// Precondition: weights non-empty, finite and >= 0. Uses one draw of `rng`.
int64_t SampleProportional(absl::Span<const double> weights, std::mt19937_64& rng);

// Indices of the `n` largest values, largest first; ties go to the lower index. Fewer when
// values has fewer than n entries.
std::vector<int64_t> TopIndices(absl::Span<const double> values, int64_t n);

// ME-ES's schedule over its ES generations g = 0, 1, ...: a new parent (and a fresh Adam state)
// every `steps_per_parent` generations; blocks alternate explore / exploit, starting with
// explore ([Q2]: explore when floor(g / K) is even).
inline bool MeEsNewParent(int64_t generation, int64_t steps_per_parent) {
  return generation % steps_per_parent == 0;
}
inline bool MeEsExplores(int64_t generation, int64_t steps_per_parent) {
  return (generation / steps_per_parent) % 2 == 0;
}

// One candidate parent of ME-ES: an elite of the grid or of the recently-updated ring.
struct EliteChoice {
  int64_t source = -1;  // index into the candidate list it was chosen from
  bool from_recent = false;
};

// ME-ES explore parent: uniform among the `pool` most novel of `novelties` (one per filled
// cell). Precondition: novelties non-empty, pool >= 1.
int64_t ChooseExploreParent(absl::Span<const double> novelties, int64_t pool, std::mt19937_64& rng);

// ME-ES exploit parent ([Q2]): with probability 0.5 uniform among the `pool` fittest cells of the
// grid (`grid_fitness`), otherwise uniform among the `pool` fittest of the recently-updated ring
// (`recent_fitness`; the grid when the ring is empty). Precondition: grid_fitness non-empty.
EliteChoice ChooseExploitParent(absl::Span<const double> grid_fitness,
                                absl::Span<const double> recent_fitness, int64_t pool,
                                std::mt19937_64& rng);

}  // namespace gdaqd::server::es

#endif  // GDAQD_SERVER_ALGORITHMS_ES_ES_SELECTION_H_
