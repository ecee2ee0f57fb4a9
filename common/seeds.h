// Seed derivation: every random stream of an experiment is a function of the config seed and
// stable ids, so a run is reproducible however its work is split (STYLE.md §8).
//
// New code derives its seeds with DeriveSeed(seed, stream, index) and a stream constant of its
// own. The derivations below it predate DeriveSeed; each is kept, value for value, because
// determinism tests, stored checkpoints and the study's runs in progress depend on the numbers
// they give: replacing one by DeriveSeed would change every result of its algorithm. They are
// gathered here so that the whole set is visible in one place.
//
// Thread-safety: pure functions.
#ifndef GDAQD_COMMON_SEEDS_H_
#define GDAQD_COMMON_SEEDS_H_

#include <cstdint>

namespace gdaqd::common {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;  // 2^64 / golden ratio, odd

// SplitMix64's output function (Steele, Lea & Flood 2014): a bijection of 64-bit words with
// good avalanche, so nearby inputs give unrelated outputs.
constexpr uint64_t SplitMix64Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The seed of element `index` of stream `stream` of an experiment seeded `seed`: three chained
// SplitMix64 steps, so any change of seed, stream or index gives an unrelated value. Streams
// are small constants owned by the code that draws from them (see kSeedStream* below).
constexpr uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t index) {
  uint64_t h = SplitMix64Mix(seed + kGoldenGamma);
  h = SplitMix64Mix(h + (stream + 1) * kGoldenGamma);
  return SplitMix64Mix(h + (index + 1) * kGoldenGamma);
}

// Stream ids for DeriveSeed. Add one per new stream; never renumber (results would change).
inline constexpr uint64_t kSeedStreamReserved = 0;     // the legacy derivations below
inline constexpr uint64_t kSeedStreamEsSelection = 1;  // ES methods: parent selection RNG
inline constexpr uint64_t kSeedStreamEsNoise = 2;      // ES methods: generation g's noise seed
inline constexpr uint64_t kSeedStreamEsPair = 3;       // ES methods: pair p of a generation
inline constexpr uint64_t kSeedStreamRlNoise = 4;      // RL methods: exploration episode e's noise
inline constexpr uint64_t kSeedStreamRlSampling = 5;   // RL methods: replay minibatch sampling (0)

// --- Derivations kept for their values (see the file comment) -------------------------------

// Random initial network `index` of an experiment (RandomPolicies, every algorithm).
constexpr uint64_t RandomPolicySeed(uint64_t seed, uint64_t index) {
  return seed * kGoldenGamma + index;
}

// The dynamics ensemble's training splits and minibatches (ModelBasedQd).
constexpr uint64_t ModelTrainingSeed(uint64_t seed) { return seed ^ kGoldenGamma; }

// The sampling noise of imagination call `call` (ModelBasedQd; the FNV-1a 64-bit prime).
constexpr uint64_t ImaginationSeed(uint64_t seed, uint64_t call) {
  return seed * 0x100000001B3ULL + call;
}

// The critic's replay-buffer sampling (CriticLearner; the drand48 multiplier).
constexpr uint64_t CriticSamplingSeed(uint64_t seed) { return seed ^ 0x5DEECE66DULL; }

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_SEEDS_H_
