#include "server/algorithms/es/es_selection.h"

#include <algorithm>
#include <numeric>

#include "server/algorithms/es/es_core.h"

namespace gdaqd::server::es {
namespace {

// Uniform index in [0, n) from one draw (n >= 1).
int64_t UniformIndex(int64_t n, std::mt19937_64& rng) {
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
}

}  // namespace

std::vector<double> MixedUtilities(absl::Span<const double> rewards,
                                   absl::Span<const double> novelties, double weight) {
  const std::vector<double> reward_ranks = CentredRanks(rewards);
  const std::vector<double> novelty_ranks = CentredRanks(novelties);
  std::vector<double> mixed(rewards.size());
  for (size_t i = 0; i < mixed.size(); ++i) {
    mixed[i] = weight * reward_ranks[i] + (1.0 - weight) * novelty_ranks[i];
  }
  return mixed;
}

void NsraWeight::Observe(double reward) {
  if (reward > best_) {
    best_ = reward;
    stagnant_ = 0;
    weight_ = std::min(1.0, weight_ + delta_);
    return;
  }
  if (++stagnant_ >= stagnation_) {
    weight_ = std::max(0.0, weight_ - delta_);
    stagnant_ = 0;
  }
}

int64_t SampleProportional(absl::Span<const double> weights, std::mt19937_64& rng) {
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  const uint64_t draw = rng();
  if (!(total > 0)) return static_cast<int64_t>(draw % weights.size());
  // 53 random bits -> [0, 1), times the total.
  const double target = static_cast<double>(draw >> 11) * 0x1.0p-53 * total;
  double cumulative = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (target < cumulative) return static_cast<int64_t>(i);
  }
  // Rounding: the last index with a positive weight.
  for (size_t i = weights.size(); i-- > 0;) {
    if (weights[i] > 0) return static_cast<int64_t>(i);
  }
  return 0;
}

std::vector<int64_t> TopIndices(absl::Span<const double> values, int64_t n) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  if (static_cast<int64_t>(order.size()) > n) order.resize(static_cast<size_t>(n));
  return order;
}

int64_t ChooseExploreParent(absl::Span<const double> novelties, int64_t pool,
                            std::mt19937_64& rng) {
  const std::vector<int64_t> top = TopIndices(novelties, pool);
  return top[UniformIndex(static_cast<int64_t>(top.size()), rng)];
}

EliteChoice ChooseExploitParent(absl::Span<const double> grid_fitness,
                                absl::Span<const double> recent_fitness, int64_t pool,
                                std::mt19937_64& rng) {
  const bool from_recent = !recent_fitness.empty() && (rng() >> 63) == 1;
  const std::vector<int64_t> top = TopIndices(from_recent ? recent_fitness : grid_fitness, pool);
  return {top[UniformIndex(static_cast<int64_t>(top.size()), rng)], from_recent};
}

}  // namespace gdaqd::server::es
