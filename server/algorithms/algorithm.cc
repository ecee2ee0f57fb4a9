#include "server/algorithms/algorithm.h"

#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/config/algorithm_rules.h"
#include "server/algorithms/registry.h"
#include "server/models/errors.h"

namespace gdaqd::server {
namespace {

// The first line of an exception's message (LibTorch appends a multi-line backtrace).
std::string FirstLine(const char* what) {
  const absl::string_view message(what);
  return std::string(message.substr(0, message.find('\n')));
}

// Runs `fn` (returning absl::Status or StatusOr<T>) and turns what it throws into a status. Our
// code throws nothing; the standard library's allocations and LibTorch (outside the CallTorch
// boundaries of server/models) may.
template <typename Fn>
auto CallGuarded(absl::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const std::bad_alloc&) {
    return models::OutOfMemoryError(what);
  } catch (const std::length_error& e) {  // a container asked for more than it can address
    return models::OutOfMemoryError(what, e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("exception in ", what, ": ", FirstLine(e.what())));
  } catch (...) {
    return absl::InternalError(absl::StrCat("unknown exception in ", what));
  }
}

// Forwards to the wrapped algorithm inside CallGuarded.
class ExceptionGuard final : public QdAlgorithm {
 public:
  explicit ExceptionGuard(std::unique_ptr<QdAlgorithm> algorithm)
      : algorithm_(std::move(algorithm)) {}

  absl::Status Ask(int64_t count, std::vector<float>* params) override {
    return CallGuarded("Ask", [&] { return algorithm_->Ask(count, params); });
  }
  absl::StatusOr<TellSummary> Tell(absl::Span<const float> params,
                                   absl::Span<const EvalOutcome> outcomes) override {
    return CallGuarded("Tell", [&] { return algorithm_->Tell(params, outcomes); });
  }
  absl::Status Learn() override {
    return CallGuarded("Learn", [&] { return algorithm_->Learn(); });
  }
  absl::Status AskEpisodes(int64_t count, std::vector<float>* params, EpisodePlan* plan) override {
    return CallGuarded("Ask", [&] { return algorithm_->AskEpisodes(count, params, plan); });
  }
  EpisodePlan PendingPlan() const override { return algorithm_->PendingPlan(); }
  int64_t NextBatchSize(int64_t wanted) const override { return algorithm_->NextBatchSize(wanted); }
  bool supports_prefetch() const override { return algorithm_->supports_prefetch(); }
  bool needs_transitions() const override { return algorithm_->needs_transitions(); }
  absl::Status SaveCheckpoint(std::ostream& out) const override {
    return CallGuarded("SaveCheckpoint", [&] { return algorithm_->SaveCheckpoint(out); });
  }
  absl::Status RestoreCheckpoint(std::istream& in) override {
    return CallGuarded("RestoreCheckpoint", [&] { return algorithm_->RestoreCheckpoint(in); });
  }
  std::vector<MetricSpec> metric_specs() const override { return algorithm_->metric_specs(); }
  std::vector<Metric> metrics() const override { return algorithm_->metrics(); }
  const ArchiveInterface& archive() const override { return algorithm_->archive(); }
  const common::TaskSpec& spec() const override { return algorithm_->spec(); }
  const common::MlpLayout& layout() const override { return algorithm_->layout(); }

 private:
  std::unique_ptr<QdAlgorithm> algorithm_;
};

// The registered factory of config.algorithm() (registry.h).
absl::StatusOr<std::unique_ptr<QdAlgorithm>> CreateAlgorithm(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  const AlgorithmFactory factory = FindAlgorithmFactory(config.algorithm());
  if (factory == nullptr) return common::UnknownAlgorithmError(config.algorithm());
  return factory(config, interrupt);
}

}  // namespace

absl::StatusOr<std::unique_ptr<QdAlgorithm>> MakeAlgorithm(
    const gdaqd::v1::ExperimentConfig& config, const CancelFlag* interrupt) {
  absl::StatusOr<std::unique_ptr<QdAlgorithm>> algorithm =
      CallGuarded("creating the algorithm", [&] { return CreateAlgorithm(config, interrupt); });
  if (!algorithm.ok()) return algorithm.status();
  return GuardExceptions(std::move(algorithm).value());
}

std::unique_ptr<QdAlgorithm> GuardExceptions(std::unique_ptr<QdAlgorithm> algorithm) {
  return std::make_unique<ExceptionGuard>(std::move(algorithm));
}

absl::Status AtGeneration(absl::Status status, int64_t generation) {
  if (!models::IsNonFiniteLoss(status)) return status;
  return absl::InternalError(absl::StrCat(status.message(), " at generation ", generation,
                                          "; the replay buffer may hold extreme transitions"));
}

}  // namespace gdaqd::server
