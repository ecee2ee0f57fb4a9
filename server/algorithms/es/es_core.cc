#include "server/algorithms/es/es_core.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/seeds.h"

namespace gdaqd::server::es {

void PairNoise(uint64_t generation_seed, int64_t pair, absl::Span<float> eps) {
  std::mt19937_64 rng(
      common::DeriveSeed(generation_seed, common::kSeedStreamEsPair, static_cast<uint64_t>(pair)));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& value : eps) value = normal(rng);
}

std::vector<double> CentredRanks(absl::Span<const double> scores) {
  const size_t n = scores.size();
  std::vector<double> ranks(n, 0.0);
  if (n <= 1) return ranks;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  for (size_t begin = 0; begin < n;) {
    size_t end = begin + 1;
    while (end < n && scores[order[end]] == scores[order[begin]]) ++end;
    const double mean_rank = 0.5 * static_cast<double>(begin + end - 1);  // ties share it
    for (size_t i = begin; i < end; ++i) ranks[order[i]] = mean_rank;
    begin = end;
  }
  for (double& rank : ranks) rank = rank / static_cast<double>(n - 1) - 0.5;
  return ranks;
}

void EstimateGradient(absl::Span<const double> u_plus, absl::Span<const double> u_minus,
                      absl::Span<const int64_t> pair_ids, uint64_t generation_seed, double sigma,
                      absl::Span<float> gradient) {
  std::vector<double> sum(gradient.size(), 0.0);
  std::vector<float> eps(gradient.size());
  for (size_t i = 0; i < pair_ids.size(); ++i) {
    PairNoise(generation_seed, pair_ids[i], absl::MakeSpan(eps));
    const double weight = u_plus[i] - u_minus[i];
    for (size_t j = 0; j < eps.size(); ++j) sum[j] += weight * eps[j];
  }
  const double scale = 1.0 / (2.0 * static_cast<double>(pair_ids.size()) * sigma);
  for (size_t j = 0; j < sum.size(); ++j) gradient[j] = static_cast<float>(sum[j] * scale);
}

void AdamAscentStep(const AdamSettings& settings, absl::Span<const float> ascent, AdamState* state,
                    absl::Span<float> theta) {
  if (state->m.size() != theta.size()) {
    state->m.assign(theta.size(), 0.0f);
    state->v.assign(theta.size(), 0.0f);
    state->steps = 0;
  }
  ++state->steps;
  const double t = static_cast<double>(state->steps);
  const double step = settings.learning_rate * std::sqrt(1.0 - std::pow(settings.beta2, t)) /
                      (1.0 - std::pow(settings.beta1, t));
  for (size_t j = 0; j < theta.size(); ++j) {
    const double d = -static_cast<double>(ascent[j]) + settings.l2 * theta[j];
    const double m = settings.beta1 * state->m[j] + (1.0 - settings.beta1) * d;
    const double v = settings.beta2 * state->v[j] + (1.0 - settings.beta2) * d * d;
    state->m[j] = static_cast<float>(m);
    state->v[j] = static_cast<float>(v);
    theta[j] = static_cast<float>(theta[j] - step * m / (std::sqrt(v) + settings.epsilon));
  }
}

}  // namespace gdaqd::server::es
