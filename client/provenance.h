// provenance.json of a results folder: which build made it, on which machine, and when.
#ifndef GDAQD_CLIENT_PROVENANCE_H_
#define GDAQD_CLIENT_PROVENANCE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gdaqd::client {

// Plain data; every string may be empty except where noted.
struct Provenance {
  std::string version;      // GDAQD_VERSION of the gdaqd binary that wrote the folder
  std::string commit;       // short git commit it was built from, or "unknown"
  std::string host;         // gethostname() of the machine that wrote the folder
  std::string cpu_model;    // "model name" of /proc/cpuinfo, or "unknown"
  int cpu_count = 0;        // online logical CPUs of that machine
  std::string command;      // the gdaqd command line, arguments joined by spaces
  std::string coordinator;  // address of the coordinator that ran the experiment
  std::string experiment_id;
  std::string final_state;  // ExperimentState name when the folder was written
  // When the experiment was submitted (`gdaqd run`: when the run started) and when the folder
  // was written; InfinitePast() if unknown.
  absl::Time start_time = absl::InfinitePast();
  absl::Time end_time = absl::InfinitePast();
};

// Fills host, cpu_model and cpu_count from this machine. Thread-safe.
void FillMachineInfo(Provenance* provenance);

// The JSON object written to provenance.json: keys gdaqd_version, git_commit, host, cpu_model,
// cpu_count, command, coordinator, experiment_id, final_state, start_time, end_time (RFC 3339
// UTC strings, null if unknown) and wall_seconds (end - start, null if either is unknown).
std::string ProvenanceJson(const Provenance& provenance);

// Escapes `text` as the contents of a JSON string (quotes not included).
std::string JsonEscape(const std::string& text);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_PROVENANCE_H_
