// `gdaqd replay`: re-runs one archived elite locally with the same task code the workers run.
#ifndef GDAQD_CLIENT_REPLAY_H_
#define GDAQD_CLIENT_REPLAY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gdaqd::client {

struct ReplayResult {
  int64_t cell = 0;
  float archived_fitness = 0;
  std::vector<float> archived_descriptor;
  float fitness = 0;
  std::vector<float> descriptor;
  int length = 0;
  bool matches = false;         // fitness and descriptor bit-identical to the archived ones
  std::string trajectory_path;  // trajectory_<cell>.csv in the results folder
};

// Loads the results folder, re-runs the elite of `cell` from the experiment's fixed initial
// state, writes trajectory_<cell>.csv (columns step, obs_*, action_* as the policy output it,
// before the task clips or scales, reward, done) into `out_dir` (default: the results folder).
// NotFound if no elite occupies `cell`.
absl::StatusOr<ReplayResult> ReplayElite(const std::string& results_dir, int64_t cell,
                                         const std::string& out_dir);

// The cell of the fittest elite in `results_dir`/archive.csv (the lowest cell among equals), for
// `gdaqd replay --cell best`. NotFound if the archive is empty; ReadArchiveCsv's errors otherwise.
absl::StatusOr<int64_t> FittestCell(const std::string& results_dir);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_REPLAY_H_
