// The results folder of an experiment, as `gdaqd run` and `gdaqd export` write it and
// `gdaqd replay` reads it:
//   config.textproto     the full experiment config, defaults applied, every field written
//                        (zeros included; client/full_text_format.h)
//   provenance.json      version, commit, host, CPU, command, start and end times
//                        (client/provenance.h)
//   status.textproto     final state, progress and error of the experiment
//   metrics.csv          one row per iteration
//   archive.csv          one row per elite: cell, centroid, descriptor, fitness
//   archive_params.npy   float32 [elites, params], row i = archive.csv row i
//   archive.svg          the descriptor space coloured by fitness (2-D descriptors)
//   progress.svg         QD-score %, coverage % and max fitness against evaluations
#ifndef GDAQD_CLIENT_RESULTS_FOLDER_H_
#define GDAQD_CLIENT_RESULTS_FOLDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/experiment_client.h"
#include "client/provenance.h"
#include "client/results/comparison.h"
#include "client/results/csv.h"
#include "client/results/npy.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::client {

// Writes every file above into `dir` (created if missing). Each file is written atomically, so
// an interrupted export leaves complete files only. provenance.json is written only when
// `provenance` is given.
absl::Status WriteResultsFolder(const std::string& dir, const ExportedArchive& archive,
                                const Provenance* provenance = nullptr);

// Makes `dir` ready to receive a results folder, before anything is written. A missing or empty
// `dir` is fine. A non-empty one is FailedPrecondition naming it, unless `force`: then the files
// a results folder holds (those above, trajectory_*.csv, logs/, state/ of `gdaqd run`) are
// removed and anything else is left alone. Returns the number of entries removed.
// FailedPrecondition if `dir` is not a directory; the errno-derived code if removal fails.
absl::StatusOr<int> PrepareResultsFolder(const std::string& dir, bool force);

// What a results folder holds, loaded back.
struct ResultsFolder {
  gdaqd::v1::ExperimentConfig config;
  std::vector<MetricsRow> metrics;
  std::vector<ArchiveRow> archive;
  NpyArray params;  // rows == archive.size()
};

// InvalidArgument naming the file if any is malformed or they disagree (row counts, parameter
// count of the config's policy).
absl::StatusOr<ResultsFolder> LoadResultsFolder(const std::string& dir);

// What `gdaqd compare` needs of a results folder: task and algorithm from config.textproto and
// metrics.csv (archive_params.npy may be missing, as in bench_reproduce's runs). NotFound or
// InvalidArgument naming the file.
absl::StatusOr<ComparedRun> LoadComparedRun(const std::string& dir);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_FOLDER_H_
