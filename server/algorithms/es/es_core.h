// The evolution-strategy step shared by ES, NS-ES, NSR-ES, NSRA-ES and ME-ES (OpenAI-ES, Salimans
// et al. 2017): antithetic Gaussian perturbations drawn from counter-based seeds, centred-rank
// fitness shaping, the gradient estimate and an Adam step on it with an L2 term. Pure functions
// and plain state; thread-compatible.
#ifndef GDAQD_SERVER_ALGORITHMS_ES_ES_CORE_H_
#define GDAQD_SERVER_ALGORITHMS_ES_ES_CORE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace gdaqd::server::es {

// Writes the standard-normal noise vector eps (eps.size() values) of pair `pair` of the
// generation whose noise seed is `generation_seed` (seeded by common::DeriveSeed with
// kSeedStreamEsPair, so a pair's noise can be regenerated anywhere from three integers).
// Deterministic for a build (std::mt19937_64 with std::normal_distribution).
void PairNoise(uint64_t generation_seed, int64_t pair, absl::Span<float> eps);

// Centred ranks of `scores`: u_j = rank(s_j) / (n - 1) - 0.5 with rank 0 for the lowest score,
// so u lies in [-0.5, 0.5] and sums to 0 ([O] compute_centered_ranks). Tied scores share the
// mean of their ranks (the sources break ties by position; sharing keeps equal scores from
// pushing the gradient). n = 1 gives {0}; n = 0 gives {}. Scores must not be NaN.
std::vector<double> CentredRanks(absl::Span<const double> scores);

// Estimated ascent direction of the shaped objective for antithetic pairs:
//   g = 1 / (n sigma) * sum_i (u_plus[i] - u_minus[i]) eps_i,   n = 2 * pairs (samples),
// the [M]/[Q2] scale. eps_i comes from PairNoise(generation_seed, pair_ids[i]). `gradient` has
// the parameter count and is overwritten. Precondition: the three spans have the same size >= 1
// and sigma > 0.
void EstimateGradient(absl::Span<const double> u_plus, absl::Span<const double> u_minus,
                      absl::Span<const int64_t> pair_ids, uint64_t generation_seed, double sigma,
                      absl::Span<float> gradient);

// Adam's moment estimates ([O] optimizers.py). m and v have the parameter count, or are empty
// before the first step (then they start at zero).
struct AdamState {
  std::vector<float> m;  // first moment
  std::vector<float> v;  // second moment
  int64_t steps = 0;     // t, steps taken since the last reset
};

struct AdamSettings {
  double learning_rate = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double l2 = 0;  // coefficient of the L2 term added to the minimised gradient
};

// One ascent step of theta along `ascent` (e.g. EstimateGradient's g): Adam minimises
// d = -ascent + l2 * theta, i.e. m <- b1 m + (1 - b1) d, v <- b2 v + (1 - b2) d^2,
// theta <- theta - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) ([O]'s form of the
// bias correction). Precondition: ascent.size() == theta.size().
void AdamAscentStep(const AdamSettings& settings, absl::Span<const float> ascent, AdamState* state,
                    absl::Span<float> theta);

}  // namespace gdaqd::server::es

#endif  // GDAQD_SERVER_ALGORITHMS_ES_ES_CORE_H_
