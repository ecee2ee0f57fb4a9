#include "worker/coordinator_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/thread.h"

namespace gdaqd::worker {
namespace {

// Codes after which reconnecting cannot help: the coordinator refused this worker as it is
// (including its token or certificate).
bool IsPermanent(absl::StatusCode code) {
  return code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kUnimplemented ||
         code == absl::StatusCode::kUnauthenticated || code == absl::StatusCode::kPermissionDenied;
}

bool SameContext(const JobContext& a, const JobContext& b) {
  return a.task == b.task && a.episode_length == b.episode_length &&
         a.env_options == b.env_options && a.record_transitions == b.record_transitions &&
         a.layout == b.layout;
}

// The skill and exploration fields of a wire episode (validated when the episode runs).
common::EpisodeOptions OptionsOf(const gdaqd::v1::Episode& episode) {
  common::EpisodeOptions options;
  if (episode.has_skill()) options.skill = episode.skill();
  if (episode.has_noise_seed()) options.noise_seed = episode.noise_seed();
  options.exploration_std = episode.exploration_std();
  return options;
}

// Copies the episode's pass-through fields onto every message of its result.
void Stamp(const EpisodeJob& job, gdaqd::v1::EpisodeResult* message) {
  message->set_actor_version(job.actor_version);
  if (job.options.skill.has_value()) message->set_skill(*job.options.skill);
}

int ToMillis(absl::Duration d) {
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(d), std::numeric_limits<int>::max()));
}

}  // namespace

// The outgoing half of one stream: results queued by rollout threads, written by one writer
// thread. Thread-safe.
class CoordinatorClient::Outgoing {
 public:
  explicit Outgoing(uint64_t generation) : generation_(generation) {}

  uint64_t generation() const { return generation_; }

  // Queues `messages` in order; drops them if closed.
  void Push(std::vector<gdaqd::v1::WorkerMessage> messages) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    for (auto& message : messages) queue_.push_back(std::move(message));
    ready_.Signal();
  }

  // Blocks until a message is queued (moves it to *message, returns true) or Close() (false).
  bool Pop(gdaqd::v1::WorkerMessage* message) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    while (queue_.empty() && !closed_) ready_.Wait(&mu_);
    if (closed_) return false;
    *message = std::move(queue_.front());
    queue_.pop_front();
    return true;
  }

  // Discards what is queued and wakes Pop(). Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    queue_.clear();
    ready_.SignalAll();
  }

 private:
  const uint64_t generation_;
  absl::Mutex mu_;
  absl::CondVar ready_;
  std::deque<gdaqd::v1::WorkerMessage> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(
    CoordinatorClientOptions options) {
  const auto invalid = [](absl::string_view field, auto value, absl::string_view expectation) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is ", value, ", ", expectation));
  };
  if (options.coordinator_address.empty()) {
    return absl::InvalidArgumentError("coordinator_address is empty, expected host:port");
  }
  if (options.worker_id.empty()) return absl::InvalidArgumentError("worker_id is empty");
  if (options.threads < 1) return invalid("threads", options.threads, "must be >= 1");
  if (options.max_reconnect_attempts < -1) {
    return invalid("max_reconnect_attempts", options.max_reconnect_attempts, "must be >= -1");
  }
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return invalid("initial_backoff", absl::FormatDuration(options.initial_backoff),
                   absl::StrCat("must be > 0 and <= max_backoff (",
                                absl::FormatDuration(options.max_backoff), ")"));
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.keepalive_time <= absl::ZeroDuration() ||
      options.keepalive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "connect_timeout, keepalive_time and keepalive_timeout must be > 0");
  }
  if (options.max_chunk_bytes < 1 || options.max_chunk_bytes > kMaxTransitionChunkBytes) {
    return invalid("max_chunk_bytes", options.max_chunk_bytes,
                   absl::StrCat("must be in [1, ", kMaxTransitionChunkBytes, "]"));
  }
  std::unique_ptr<CoordinatorClient> client(new CoordinatorClient(std::move(options)));
  absl::StatusOr<std::unique_ptr<RolloutEngine>> engine = RolloutEngine::Create(
      client->options_.threads,
      [client = client.get()](const EpisodeJob& job,
                              absl::StatusOr<const common::EpisodeResult*> result) {
        client->OnEpisodeDone(job, std::move(result));
      },
      client->options_.observer);
  if (!engine.ok()) return engine.status();
  client->engine_ = *std::move(engine);
  return client;
}

CoordinatorClient::CoordinatorClient(CoordinatorClientOptions options)
    : options_(std::move(options)) {}

CoordinatorClient::~CoordinatorClient() { Shutdown(); }

void CoordinatorClient::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    // Before the cancel, so that Run() sees the cancelled stream as a shutdown, not a failure.
    shutdown_requested_.Notify();
    if (context_ != nullptr) context_->TryCancel();
  }
  if (engine_ != nullptr) engine_->Stop();
}

absl::Status CoordinatorClient::Run() {
  absl::Cleanup stop_engine = [this] { engine_->Stop(); };
  absl::Duration backoff = options_.initial_backoff;
  int failures = 0;  // consecutive attempts that did not get the hello through
  while (!shutdown_requested_.HasBeenNotified()) {
    bool hello_sent = false;
    const absl::Status status = RunStream(&hello_sent);
    if (shutdown_requested_.HasBeenNotified()) break;
    if (IsPermanent(status.code())) {
      return absl::Status(status.code(), absl::StrCat("coordinator ", options_.coordinator_address,
                                                      " refused the worker: ", status.message()));
    }
    if (hello_sent) {
      backoff = options_.initial_backoff;
      failures = 0;
    }
    ++failures;
    if (options_.max_reconnect_attempts >= 0 && failures > options_.max_reconnect_attempts) {
      return absl::Status(
          status.code(), absl::StrCat("gave up on coordinator ", options_.coordinator_address,
                                      " after ", failures, " failed attempts: ", status.message()));
    }
    const absl::Duration wait = Jittered(backoff);
    LOG(WARNING) << "coordinator=" << options_.coordinator_address
                 << " stream ended code=" << absl::StatusCodeToString(status.code())
                 << " message=\"" << status.message() << "\" reconnect_in="
                 << absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(1)))
                 << " attempt=" << failures;
    if (shutdown_requested_.WaitForNotificationWithTimeout(wait)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
    if (options_.observer != nullptr) options_.observer->OnReconnect();
  }
  return absl::OkStatus();
}

absl::Duration CoordinatorClient::Jittered(absl::Duration backoff) {
  return backoff * absl::Uniform(bitgen_, 0.8, 1.2);
}

std::unique_ptr<gdaqd::v1::WorkerService::Stub> CoordinatorClient::NewStub() const {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ToMillis(options_.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ToMillis(options_.keepalive_timeout));
  // gRPC bounds each connection attempt by its minimum reconnect backoff.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, ToMillis(options_.connect_timeout));
  // A fresh connection per attempt: our backoff, not gRPC's shared subchannel state, decides
  // when to dial again.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  options_.security.ApplyTo(&args);
  return gdaqd::v1::WorkerService::NewStub(grpc::CreateCustomChannel(
      options_.coordinator_address, options_.security.channel_credentials, args));
}

absl::Status CoordinatorClient::RunStream(bool* hello_sent) {
  std::unique_ptr<gdaqd::v1::WorkerService::Stub> stub = NewStub();
  grpc::ClientContext context;  // no deadline: the stream lives as long as the worker
  options_.security.Authorize(&context);
  const uint64_t generation = ++generation_;
  auto outgoing = std::make_shared<Outgoing>(generation);
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::CancelledError("shutting down");
    context_ = &context;  // a TryCancel() before the call starts cancels it when it does
    outgoing_ = outgoing;
  }
  absl::Cleanup unpublish = [this] {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    outgoing_ = nullptr;
  };

  std::unique_ptr<Stream> stream = stub->Connect(&context);
  gdaqd::v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id(options_.worker_id);
  hello.mutable_hello()->set_threads(engine_->num_threads());
  hello.mutable_hello()->set_version(GDAQD_VERSION);
  *hello_sent = stream->Write(hello);
  if (*hello_sent) {
    LOG(INFO) << "connected coordinator=" << options_.coordinator_address
              << " worker_id=" << options_.worker_id << " threads=" << engine_->num_threads();
    if (options_.observer != nullptr) options_.observer->OnConnected(true);
    Serve(*stream, generation, outgoing);
    if (options_.observer != nullptr) options_.observer->OnConnected(false);
  } else {
    // The call is already over; consume whatever it delivered so that Finish() cannot wait.
    gdaqd::v1::CoordinatorMessage message;
    while (stream->Read(&message)) {
    }
  }
  return common::FromGrpcStatus(stream->Finish());
}

void CoordinatorClient::Serve(Stream& stream, uint64_t generation,
                              const std::shared_ptr<Outgoing>& outgoing) {
  // The only writer from here on; the hello was written before it started.
  common::Thread writer("result-writer", [&outgoing, &stream] {
    gdaqd::v1::WorkerMessage message;
    while (outgoing->Pop(&message)) {
      if (!stream.Write(message)) break;  // the call is over; Read() below sees it too
    }
  });
  gdaqd::v1::CoordinatorMessage message;
  while (stream.Read(&message)) {
    if (message.has_assignment()) {
      HandleAssignment(message.assignment(), generation, *outgoing);
    } else {
      VLOG(1) << "ignoring coordinator message of unknown type";
    }
  }
  {
    absl::MutexLock lock(&mu_);
    outgoing_ = nullptr;  // results of this stream's running episodes are discarded
  }
  const int64_t dropped = engine_->Cancel(generation);
  if (dropped > 0) VLOG(1) << "dropped " << dropped << " queued episodes of the lost stream";
  outgoing->Close();
  writer.Join();  // Finish() needs all writes done
}

absl::StatusOr<std::shared_ptr<const JobContext>> CoordinatorClient::ContextFor(
    const gdaqd::v1::Assignment& assignment) {
  // The coordinator sends configs with defaults applied; PolicyLayout() validates them.
  absl::StatusOr<common::MlpLayout> layout =
      common::PolicyLayout(assignment.env(), assignment.policy());
  if (!layout.ok()) return layout.status();
  absl::StatusOr<common::EnvironmentOptions> env_options =
      common::EnvironmentOptionsFromConfig(assignment.env());
  if (!env_options.ok()) return env_options.status();
  auto context = std::make_shared<JobContext>();
  context->task = assignment.env().task();
  context->episode_length = assignment.env().episode_length();
  context->env_options = *env_options;
  context->layout = *std::move(layout);
  context->record_transitions = assignment.record_transitions();
  // Reusing the previous pointer lets rollout threads skip comparing contexts.
  if (last_context_ == nullptr || !SameContext(*last_context_, *context)) {
    last_context_ = std::move(context);
  }
  return last_context_;
}

void CoordinatorClient::HandleAssignment(const gdaqd::v1::Assignment& assignment,
                                         uint64_t generation, Outgoing& outgoing) {
  const uint64_t lease_id = assignment.lease_id();
  VLOG(1) << "assignment lease=" << lease_id << " episodes=" << assignment.episodes_size()
          << " task=" << assignment.env().task();
  std::vector<gdaqd::v1::WorkerMessage> errors;
  const auto reject = [&](const gdaqd::v1::Episode& episode, const absl::Status& status) {
    gdaqd::v1::EpisodeResult* result = errors.emplace_back().mutable_result();
    *result = ErrorEpisodeResult(lease_id, episode.index(), status);
    result->set_actor_version(episode.actor_version());
    if (episode.has_skill()) result->set_skill(episode.skill());
  };
  absl::StatusOr<std::shared_ptr<const JobContext>> context = ContextFor(assignment);

  // One buffer for the parameters of every episode; each job holds a span into it.
  size_t total_floats = 0;
  for (const gdaqd::v1::Episode& episode : assignment.episodes()) {
    total_floats += episode.params().size() / sizeof(float);
  }
  auto buffer = std::make_shared<std::vector<float>>(total_floats);
  std::vector<EpisodeJob> jobs;
  size_t offset = 0;
  for (const gdaqd::v1::Episode& episode : assignment.episodes()) {
    const std::string& bytes = episode.params();
    if (!context.ok()) {
      reject(episode, context.status());
      continue;
    }
    if (bytes.size() % sizeof(float) != 0) {
      reject(episode, absl::InvalidArgumentError(absl::StrCat(
                          "params have ", bytes.size(), " bytes, not a whole number of float32")));
      continue;
    }
    const size_t count = bytes.size() / sizeof(float);
    std::memcpy(buffer->data() + offset, bytes.data(), bytes.size());
    EpisodeJob& job = jobs.emplace_back();
    job.context = *context;
    job.key = {.group = generation, .lease_id = lease_id, .index = episode.index()};
    job.seed = episode.seed();
    job.options = OptionsOf(episode);
    job.actor_version = episode.actor_version();
    job.params = absl::MakeConstSpan(buffer->data() + offset, count);
    job.params_owner = buffer;
    offset += count;
  }
  if (!errors.empty()) outgoing.Push(std::move(errors));
  // Fails only once Shutdown() stopped the engine; the stream is being cancelled then.
  const absl::Status submitted = engine_->Submit(std::move(jobs));
  if (!submitted.ok()) VLOG(1) << "episodes of lease " << lease_id << " not run: " << submitted;
}

void CoordinatorClient::OnEpisodeDone(const EpisodeJob& job,
                                      absl::StatusOr<const common::EpisodeResult*> result) {
  std::shared_ptr<Outgoing> outgoing;
  {
    absl::MutexLock lock(&mu_);
    outgoing = outgoing_;
  }
  if (outgoing == nullptr || outgoing->generation() != job.key.group) {
    VLOG(2) << "lease=" << job.key.lease_id << " index=" << job.key.index
            << " finished after its stream ended; dropped";
    return;
  }
  std::vector<gdaqd::v1::WorkerMessage> messages;
  if (result.ok()) {
    const common::MlpLayout& layout = job.context->layout;
    absl::StatusOr<std::vector<gdaqd::v1::EpisodeResult>> chunks = SplitEpisodeResult(
        job.key.lease_id, job.key.index, **result,
        common::TransitionRowSize(layout.obs_dim, layout.action_dim), options_.max_chunk_bytes);
    if (chunks.ok()) {
      messages.resize(chunks->size());
      for (size_t i = 0; i < chunks->size(); ++i) {
        *messages[i].mutable_result() = std::move((*chunks)[i]);
        Stamp(job, messages[i].mutable_result());
      }
    } else {
      result = chunks.status();
    }
  }
  if (!result.ok()) {
    messages.clear();
    *messages.emplace_back().mutable_result() =
        ErrorEpisodeResult(job.key.lease_id, job.key.index, result.status());
    Stamp(job, messages.back().mutable_result());
  }
  VLOG(2) << "lease=" << job.key.lease_id << " index=" << job.key.index
          << " messages=" << messages.size() << " ok=" << result.ok();
  outgoing->Push(std::move(messages));
}

}  // namespace gdaqd::worker
