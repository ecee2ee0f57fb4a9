#include "bench/fake_worker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/rollout.h"
#include "worker/result_chunks.h"

namespace gdaqd::bench {
namespace {

constexpr absl::Duration kConnectTimeout = absl::Seconds(10);

// Uniform float in [low, high].
float Uniform(std::mt19937_64& rng, float low, float high) {
  return low + (high - low) * std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
}

// `length` plausible transition rows of the task (layout of common/rollout.h).
std::vector<float> SyntheticTransitions(const common::TaskSpec& spec, int length,
                                        std::mt19937_64& rng) {
  const int row = common::TransitionRowSize(spec.obs_dim, spec.action_dim);
  const auto max_penalty = static_cast<float>(std::max(spec.reward_offset, 1e-3));
  std::vector<float> rows(static_cast<size_t>(length) * row);
  for (int t = 0; t < length; ++t) {
    float* r = &rows[static_cast<size_t>(t) * row];
    int k = 0;
    for (int i = 0; i < spec.obs_dim; ++i) r[k++] = Uniform(rng, -1, 1);     // obs
    for (int i = 0; i < spec.action_dim; ++i) r[k++] = Uniform(rng, -1, 1);  // action
    r[k++] = Uniform(rng, -max_penalty, 0);                                  // reward
    for (int i = 0; i < spec.obs_dim; ++i) r[k++] = Uniform(rng, -1, 1);     // next_obs
    r[k++] = 0;                                                              // done
    r[k++] = t == length - 1 ? 1.0f : 0.0f;                                  // truncated
  }
  return rows;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeWorker>> FakeWorker::Start(const Options& options) {
  std::unique_ptr<FakeWorker> worker(new FakeWorker(options));
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(common::kMaxGrpcMessageBytes);
  args.SetMaxReceiveMessageSize(common::kMaxGrpcMessageBytes);
  // One TCP connection per fake worker, as separate worker processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(options.address, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + kConnectTimeout))) {
    return absl::UnavailableError(
        absl::StrCat("fake worker ", options.worker_id, ": cannot reach ", options.address));
  }
  worker->stub_ = gdaqd::v1::WorkerService::NewStub(channel);
  worker->stream_ = worker->stub_->Connect(&worker->context_);
  gdaqd::v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id(options.worker_id);
  hello.mutable_hello()->set_threads(options.threads);
  hello.mutable_hello()->set_version(GDAQD_VERSION);
  if (!worker->stream_->Write(hello)) {
    gdaqd::v1::CoordinatorMessage ignored;
    while (worker->stream_->Read(&ignored)) {
    }
    const absl::Status status = common::FromGrpcStatus(worker->stream_->Finish());
    worker->stopped_ = true;
    return absl::UnavailableError(absl::StrCat("fake worker ", options.worker_id,
                                               ": hello not written: ", status.ToString()));
  }
  FakeWorker* raw = worker.get();
  worker->reader_ = std::make_unique<common::Thread>("fake-worker", [raw] { raw->ReadLoop(); });
  return worker;
}

FakeWorker::FakeWorker(Options options) : options_(std::move(options)), rng_(options_.seed) {}

FakeWorker::~FakeWorker() { Stop(); }

void FakeWorker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  context_.TryCancel();
  reader_.reset();  // joins: Read() fails once the call is cancelled
  absl::Status finished = common::FromGrpcStatus(stream_->Finish());
  SetStatus(finished.ok() ? absl::CancelledError("stopped") : finished);
}

absl::Status FakeWorker::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void FakeWorker::SetStatus(absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (status_.ok()) status_ = std::move(status);
}

void FakeWorker::ReadLoop() {
  gdaqd::v1::CoordinatorMessage message;
  while (stream_->Read(&message)) {
    if (!message.has_assignment()) continue;
    assignments_.fetch_add(1, std::memory_order_relaxed);
    if (!AnswerAssignment(message.assignment())) break;
  }
}

absl::StatusOr<FakeWorker::Answer*> FakeWorker::AnswerFor(const gdaqd::v1::Assignment& assignment) {
  const std::string key =
      absl::StrCat(assignment.env().task(), "/", assignment.env().episode_length(), "/",
                   assignment.record_transitions());
  auto it = answers_.find(key);
  if (it != answers_.end()) return it->second.get();
  absl::StatusOr<common::TaskSpec> spec =
      common::GetTaskSpec(assignment.env().task(), assignment.env().episode_length());
  if (!spec.ok()) return spec.status();
  auto answer = std::make_unique<Answer>();
  answer->spec = *std::move(spec);
  const int length = answer->spec.episode_length;
  common::EpisodeResult result;
  result.length = length;
  result.descriptor = answer->spec.descriptor_low;
  if (assignment.record_transitions()) {
    result.transitions = SyntheticTransitions(answer->spec, length, rng_);
  }
  absl::StatusOr<std::vector<gdaqd::v1::EpisodeResult>> chunks = worker::SplitEpisodeResult(
      0, 0, result, common::TransitionRowSize(answer->spec.obs_dim, answer->spec.action_dim));
  if (!chunks.ok()) return chunks.status();
  for (gdaqd::v1::EpisodeResult& chunk : *chunks) {
    *answer->chunks.emplace_back().mutable_result() = std::move(chunk);
  }
  Answer* raw = answer.get();
  answers_[key] = std::move(answer);
  return raw;
}

bool FakeWorker::AnswerAssignment(const gdaqd::v1::Assignment& assignment) {
  absl::StatusOr<Answer*> answer = AnswerFor(assignment);
  if (!answer.ok()) {
    SetStatus(answer.status());
    return false;
  }
  const common::TaskSpec& spec = (*answer)->spec;
  std::vector<gdaqd::v1::WorkerMessage>& chunks = (*answer)->chunks;
  const double max_penalty = spec.reward_offset * spec.episode_length;
  for (const gdaqd::v1::Episode& episode : assignment.episodes()) {
    for (gdaqd::v1::WorkerMessage& chunk : chunks) {
      chunk.mutable_result()->set_lease_id(assignment.lease_id());
      chunk.mutable_result()->set_index(episode.index());
    }
    gdaqd::v1::EpisodeResult* last = chunks.back().mutable_result();
    last->set_fitness(-Uniform(rng_, 0, static_cast<float>(max_penalty)));
    for (int d = 0; d < spec.descriptor_dim; ++d) {
      last->set_behavior_descriptor(d,
                                    Uniform(rng_, spec.descriptor_low[d], spec.descriptor_high[d]));
    }
    for (const gdaqd::v1::WorkerMessage& chunk : chunks) {
      if (!stream_->Write(chunk)) return false;
      messages_.fetch_add(1, std::memory_order_relaxed);
    }
    answered_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

}  // namespace gdaqd::bench
