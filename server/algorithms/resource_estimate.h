// Admission control at submit (docs/durability.md §4): how much memory an experiment will hold,
// computed from its config alone, and whether the coordinator can afford it. The coordinator
// refuses what does not fit with RESOURCE_EXHAUSTED instead of dying of std::bad_alloc later.
//
// Torch-free and algorithm-free (library gdaqd_admission), so the config fuzzer can link it. The
// sizes mirror the real data structures; resource_estimate_test.cc checks them against
// allocations measured on the real archive, replay buffer and networks.
#ifndef GDAQD_SERVER_ALGORITHMS_RESOURCE_ESTIMATE_H_
#define GDAQD_SERVER_ALGORITHMS_RESOURCE_ESTIMATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/grpc_status.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::server {

// Defaults of the coordinator's flags (server/main.cc), sized for a 24 GiB machine: one
// experiment at most 8 GiB, all running experiments together at most 16 GiB.
inline constexpr int64_t kDefaultMaxExperimentBytes = int64_t{8} << 30;
inline constexpr int64_t kDefaultMemoryBudgetBytes = int64_t{16} << 30;
// Room left in every message for what is not policy parameters or transitions: protobuf framing,
// gRPC headers, the env and policy config of an assignment (their strings are bounded by
// validation to well under 1 KiB).
inline constexpr int64_t kMessageHeadroomBytes = 64 * 1024;
inline constexpr int64_t kDefaultMaxMessageBytes =
    common::kMaxGrpcMessageBytes - kMessageHeadroomBytes;
// Most transition bytes a worker puts in one EpisodeResult (worker/result_chunks.h's
// kMaxTransitionChunkBytes; the server does not include worker headers).
inline constexpr int64_t kResultChunkBytes = 512 * 1024;

// What one experiment will hold at its peak, in bytes, by part. Parts are upper bounds of what
// the algorithm allocates for its lifetime (the replay buffer counts at full capacity); `total`
// is their sum. A plain value.
struct ResourceEstimate {
  // Dense archive: fitness + descriptor + params floats per cell, plus the centroids.
  int64_t archive = 0;
  // The archive copy imagination works on (DA_QD_EXT and GDA_QD; 0 otherwise).
  int64_t imagined_archive = 0;
  // Transient k-means working memory while a CVT archive is built (samples, bounds, centroids).
  int64_t cvt = 0;
  // Replay buffer at capacity: rows of float32 transitions plus per-row bookkeeping
  // (PGA_ME, DA_QD_EXT, GDA_QD).
  int64_t replay_buffer = 0;
  // Networks with their gradients, Adam moments and targets (dynamics ensemble, TD3 twin critic
  // and greedy actor), plus their training working sets (the ensemble's copy of the training
  // rows, the critic's sampled minibatches, activations).
  int64_t models = 0;
  // One iteration in flight: the batch's params (algorithm, scheduler and wire copies), its
  // recorded transitions, imagined children and policy-gradient children with their Adam state.
  int64_t in_flight = 0;
  int64_t total = 0;
  // Largest single gRPC message of the experiment: one episode's assignment (its params plus an
  // envelope; an assignment holds at least one episode) or one result chunk.
  int64_t largest_message = 0;

  // "archive 1.2 GiB + replay buffer 270.0 MiB + ... = 1.6 GiB"; parts that are 0 are left out.
  std::string ToString() const;
};

// Estimates what `config` will hold. `config` must be validated with defaults applied
// (common::ValidateExperimentConfig); the result is then exact up to allocator overhead for the
// archive and replay buffer and an upper bound elsewhere. For any other config it still returns
// without undefined behaviour, every part saturating at 2^62. InvalidArgument if the task is
// unknown or the policy layout is invalid (hidden sizes, activations). Thread-safe (pure function,
// cost linear in the config's size).
absl::StatusOr<ResourceEstimate> EstimateExperimentResources(
    const gdaqd::v1::ExperimentConfig& config);

// The coordinator's limits. A limit <= 0 disables its check.
struct AdmissionLimits {
  int64_t max_experiment_bytes = kDefaultMaxExperimentBytes;  // --max_experiment_bytes
  int64_t memory_budget_bytes = kDefaultMemoryBudgetBytes;    // --memory_budget
  // Sum of the estimates of the experiments that currently hold memory (not yet released).
  int64_t committed_bytes = 0;
  int64_t max_message_bytes = kDefaultMaxMessageBytes;  // largest_message must fit
};

// OK if the experiment fits: largest_message <= max_message_bytes, total <=
// max_experiment_bytes and committed_bytes + total <= memory_budget_bytes. Otherwise
// ResourceExhausted naming the limit and the estimate, checked in that order, e.g.
// "experiment needs ~21.3 GiB (archive 20.0 GiB + in flight 1.3 GiB), more than
// --max_experiment_bytes 8.0 GiB". Thread-safe (pure function).
absl::Status CheckAdmission(const ResourceEstimate& estimate, const AdmissionLimits& limits);

// Float parameters of the networks `config` builds, counted from the layer sizes exactly as
// common::MlpLayout and server/models lay them out (weights then biases per layer).
struct ModelParamCounts {
  int64_t policy = 0;    // one policy (common::MlpLayout::num_params)
  int64_t ensemble = 0;  // all dynamics-ensemble members (DA_QD_EXT, GDA_QD; else 0)
  int64_t critic = 0;    // both TD3 twin critics (PGA_ME, GDA_QD; else 0)
};
// Same preconditions and errors as EstimateExperimentResources().
absl::StatusOr<ModelParamCounts> CountModelParams(const gdaqd::v1::ExperimentConfig& config);

// "512 B", "1.5 KiB", "270.0 MiB", "1.2 GiB", ... (binary units, one decimal).
std::string FormatBytes(int64_t bytes);

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_ALGORITHMS_RESOURCE_ESTIMATE_H_
