// libFuzzer target: arbitrary bytes as an ExperimentConfig, both as text format (what `gdaqd
// submit` reads from a file) and as a binary proto (what SubmitExperiment receives), through the
// path a submit takes: defaults, validation, resource estimate, admission.
//
// Besides crashes, leaks and sanitizer reports (ASan, UBSan) it aborts on broken contracts:
// validation must be deterministic and defaults idempotent, every error must be InvalidArgument
// with a bounded message, a validated config must respect the documented bounds, and its estimate
// must succeed with consistent parts. Run it with -rss_limit_mb=2048 so that an unbounded
// allocation is a finding too (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/config.h"
#include "gdaqd/v1/config.pb.h"
#include "google/protobuf/stubs/logging.h"
#include "server/algorithms/resource_estimate.h"

namespace {

using gdaqd::v1::ExperimentConfig;

// Longest status message any step may return (the gRPC boundary truncates at 1 KiB anyway; ours
// must never echo input at length).
constexpr size_t kMaxErrorBytes = 512;

#define FUZZ_CHECK(cond, what)                                               \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "config_fuzzer: %s failed: %s\n", #cond, (what)); \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

void CheckError(const absl::Status& status, absl::StatusCode code) {
  const std::string text = status.ToString();
  FUZZ_CHECK(status.code() == code, text.c_str());
  FUZZ_CHECK(status.message().size() <= kMaxErrorBytes, text.c_str());
}

// The bounds common::ValidateExperimentConfig promises (config.h).
void CheckBounds(const ExperimentConfig& config) {
  FUZZ_CHECK(static_cast<int64_t>(config.name().size()) <= gdaqd::common::kMaxNameBytes, "name");
  FUZZ_CHECK(config.ByteSizeLong() <= static_cast<size_t>(gdaqd::common::kMaxConfigBytes), "size");
  FUZZ_CHECK(config.policy().hidden_sizes_size() <= gdaqd::common::kMaxHiddenLayers, "layers");
  FUZZ_CHECK(config.budget().max_evaluations() >= 1 &&
                 config.budget().max_evaluations() <= gdaqd::common::kMaxEvaluations,
             "budget");
}

// A validated config must be estimable, its parts must add up, and admission may only say OK
// or RESOURCE_EXHAUSTED.
void CheckAdmissible(const ExperimentConfig& config) {
  CheckBounds(config);
  absl::StatusOr<gdaqd::server::ResourceEstimate> estimate =
      gdaqd::server::EstimateExperimentResources(config);
  FUZZ_CHECK(estimate.ok(), estimate.status().ToString().c_str());
  const auto& e = *estimate;
  for (int64_t part : {e.archive, e.imagined_archive, e.cvt, e.replay_buffer, e.models, e.in_flight,
                       e.largest_message}) {
    FUZZ_CHECK(part >= 0, e.ToString().c_str());
    FUZZ_CHECK(part <= (int64_t{1} << 62), e.ToString().c_str());
  }
  for (int64_t part :
       {e.archive, e.imagined_archive, e.cvt, e.replay_buffer, e.models, e.in_flight}) {
    FUZZ_CHECK(part <= e.total, e.ToString().c_str());
  }
  FUZZ_CHECK(e.archive > 0 && e.largest_message > 0, e.ToString().c_str());
  const absl::Status admitted = gdaqd::server::CheckAdmission(e, gdaqd::server::AdmissionLimits{});
  if (!admitted.ok()) CheckError(admitted, absl::StatusCode::kResourceExhausted);
}

// Text format, as `gdaqd submit` and LoadExperimentConfig read a file.
void FuzzText(const std::string& bytes) {
  absl::StatusOr<ExperimentConfig> parsed = gdaqd::common::ParseExperimentConfig(bytes);
  if (!parsed.ok()) {
    CheckError(parsed.status(), absl::StatusCode::kInvalidArgument);
    return;
  }
  CheckAdmissible(*parsed);
}

// Binary, as a SubmitExperimentRequest carries it.
void FuzzBinary(const std::string& bytes) {
  ExperimentConfig config;
  if (!config.ParseFromString(bytes)) return;
  gdaqd::common::ApplyDefaults(&config);
  const std::string defaulted = config.SerializeAsString();
  gdaqd::common::ApplyDefaults(&config);
  FUZZ_CHECK(config.SerializeAsString() == defaulted, "ApplyDefaults is not idempotent");

  const absl::Status valid = gdaqd::common::ValidateExperimentConfig(config);
  FUZZ_CHECK(gdaqd::common::ValidateExperimentConfig(config) == valid, "nondeterministic");
  if (!valid.ok()) {
    CheckError(valid, absl::StatusCode::kInvalidArgument);
    // Never admitted, but the estimate must still be safe to call on anything.
    absl::StatusOr<gdaqd::server::ResourceEstimate> estimate =
        gdaqd::server::EstimateExperimentResources(config);
    if (!estimate.ok()) CheckError(estimate.status(), absl::StatusCode::kInvalidArgument);
    return;
  }
  CheckAdmissible(config);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in binary input makes protobuf log an error per parse; drop its log output.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  FuzzText(bytes);
  FuzzBinary(bytes);
  return 0;
}
