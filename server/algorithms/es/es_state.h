// Everything the ES algorithms (EsAlgorithm) change while they run, apart from the MAP-Elites
// archive, the novelty archive and NSRA's weight (saved beside it), as one value with an exact
// binary save/restore (checkpoint_io.h's primitives).
#ifndef GDAQD_SERVER_ALGORITHMS_ES_ES_STATE_H_
#define GDAQD_SERVER_ALGORITHMS_ES_ES_STATE_H_

#include <cstdint>
#include <iosfwd>
#include <limits>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/algorithms/es/es_core.h"
#include "server/algorithms/es/es_selection.h"

namespace gdaqd::server::es {

inline constexpr double kNoReward = -std::numeric_limits<double>::infinity();

// One search distribution's centre and its optimiser: ES's single lineage, each NS-* member, or
// ME-ES's current parent.
struct Lineage {
  std::vector<float> theta;       // [num_params]; empty until drawn
  AdamState adam;                 // reset when ME-ES picks a new parent
  std::vector<float> descriptor;  // NS-*: the member's last evaluated descriptor; empty if none
  double reward = kNoReward;      // NS-*: the member's last evaluated reward
};

// An elite ME-ES recently placed in the grid (new or improved cell), for exploit selection.
struct RecentElite {
  std::vector<float> theta;  // [num_params]
  double reward = kNoReward;
};

// The batch asked and not yet told.
struct PendingBatch {
  bool active = false;
  bool initial = false;         // NS-* / ME-ES: random networks of the first batch
  int64_t count = 0;            // episodes asked
  bool offspring_slot = false;  // row 0 evaluates the centre / last offspring
  int64_t parent = 0;           // lineage the pairs perturb
  int64_t pairs = 0;            // antithetic pairs in rows [slot, slot + 2 pairs)
  uint64_t noise_seed = 0;      // PairNoise seed of this generation
  bool explore = false;         // ME-ES block mode
};

// What one ES generation did, for progress plots (the paper plots NSRA-ES's weight and the best
// reward per generation).
struct EsGenerationRecord {
  int64_t generation = 0;               // ES generations told so far, this one included
  double offspring_reward = kNoReward;  // reward of row 0 (centre/offspring), if evaluated
  double best_reward = kNoReward;       // best row-0 reward so far
  double reward_weight = 1.0;           // weight of the reward in the utilities (NS-ES 0, ES 1)
  double mean_novelty = 0;              // mean novelty of the pairs' episodes (0 for ES)
  int64_t parent = 0;                   // lineage / member stepped
  bool explore = false;                 // ME-ES: an explore block
  int64_t used_pairs = 0;               // pairs with both episodes usable
};

// Mutable state of EsAlgorithm besides what AlgorithmCore holds (archive, selection RNG, random
// networks drawn). Plain value; thread-compatible.
struct EsState {
  uint64_t es_generations = 0;  // ES generations told
  bool initialised = false;     // NS-* / ME-ES: the first (random) batch was told
  std::vector<Lineage> lineages;
  std::vector<float> offspring;     // the next row-0 policy; empty: a random network
  int64_t offspring_owner = -1;     // NS-*: member the offspring belongs to, -1 none
  double best_reward = kNoReward;   // best row-0 reward so far
  std::vector<RecentElite> recent;  // ME-ES ring, oldest first
  PendingBatch pending;
  std::vector<EsGenerationRecord> history;
};

// Appends `state` to `out`.
void WriteEsState(std::ostream& out, const EsState& state);
// Reads what WriteEsState wrote. DataLoss if truncated; InvalidArgument if a vector does not
// have `num_params` (parameters) or `descriptor_dim` (descriptors) floats per row, or a count
// is implausible.
absl::Status ReadEsState(std::istream& in, int64_t num_params, int descriptor_dim, EsState* state);

// Float vectors as length-prefixed blocks; the reader checks the count is a multiple of `row`
// and at most `max_floats`. InvalidArgument / DataLoss naming `what`.
void WriteFloats(std::ostream& out, const std::vector<float>& values);
absl::StatusOr<std::vector<float>> ReadFloats(std::istream& in, const char* what, int64_t row,
                                              uint64_t max_floats);

}  // namespace gdaqd::server::es

#endif  // GDAQD_SERVER_ALGORITHMS_ES_ES_STATE_H_
