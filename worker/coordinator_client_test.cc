// Loopback tests of CoordinatorClient against a fake WorkerService (sync API, 127.0.0.1:0).
#include "worker/coordinator_client.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "common/thread.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::worker {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;
using ServerStream =
    grpc::ServerReaderWriter<gdaqd::v1::CoordinatorMessage, gdaqd::v1::WorkerMessage>;

constexpr absl::Duration kWaitTimeout = absl::Seconds(30);
constexpr int kEpisodeLength = 250;

// A WorkerService whose Connect() runs `handler` with the 0-based number of the connection.
// Thread-safe.
class FakeCoordinator final : public gdaqd::v1::WorkerService::Service {
 public:
  using Handler = std::function<grpc::Status(int connection, ServerStream* stream)>;

  explicit FakeCoordinator(Handler handler) : handler_(std::move(handler)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeCoordinator() override { Stop(); }

  void Stop() {
    if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  bool started() const { return server_ != nullptr && port_ > 0; }

  grpc::Status Connect(grpc::ServerContext*, ServerStream* stream) override {
    int connection;
    {
      absl::MutexLock lock(&mu_);
      connection = connections_++;
    }
    return handler_(connection, stream);
  }

 private:
  const Handler handler_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
};

// Runs client->Run() on its own thread; the destructor shuts the client down and joins.
class ClientRunner {
 public:
  explicit ClientRunner(CoordinatorClient* client)
      : client_(client), thread_("client-run", [this] {
          status_ = client_->Run();
          done_.Notify();
        }) {}
  ~ClientRunner() { client_->Shutdown(); }

  // True once Run() has returned; then status() is its result.
  bool WaitDone() { return done_.WaitForNotificationWithTimeout(kWaitTimeout); }
  const absl::Status& status() const { return status_; }

 private:
  CoordinatorClient* const client_;
  absl::Status status_;
  absl::Notification done_;
  common::Thread thread_;  // last: starts after, and is joined before, the members above
};

CoordinatorClientOptions TestOptions(const std::string& address) {
  CoordinatorClientOptions options;
  options.coordinator_address = address;
  options.worker_id = "test-worker";
  options.threads = 2;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  options.connect_timeout = absl::Seconds(5);
  return options;
}

gdaqd::v1::Assignment MakeAssignment(uint64_t lease_id, int episodes) {
  gdaqd::v1::Assignment assignment;
  assignment.set_lease_id(lease_id);
  assignment.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Minutes(1)));
  assignment.mutable_env()->set_task("point_maze");
  assignment.mutable_env()->set_episode_length(kEpisodeLength);
  assignment.mutable_policy()->add_hidden_sizes(16);
  assignment.mutable_policy()->add_hidden_sizes(16);
  assignment.mutable_policy()->set_hidden_activation("relu");
  assignment.mutable_policy()->set_output_activation("tanh");
  assignment.set_record_transitions(true);
  const absl::StatusOr<common::MlpLayout> layout =
      common::PolicyLayout(assignment.env(), assignment.policy());
  EXPECT_TRUE(layout.ok()) << layout.status();
  for (int i = 0; i < episodes; ++i) {
    gdaqd::v1::Episode* episode = assignment.add_episodes();
    episode->set_index(i);
    episode->set_seed(100 + i);
    std::vector<float> params(layout->num_params());
    common::InitLecunUniform(*layout, 1000 * lease_id + i, absl::MakeSpan(params));
    episode->set_params(params.data(), params.size() * sizeof(float));
  }
  return assignment;
}

// What common::RunEpisode gives for episode `i` of `assignment`.
common::EpisodeResult RunDirectly(const gdaqd::v1::Assignment& assignment, int i) {
  const gdaqd::v1::Episode& episode = assignment.episodes(i);
  std::vector<float> params(episode.params().size() / sizeof(float));
  std::memcpy(params.data(), episode.params().data(), episode.params().size());
  auto layout = common::PolicyLayout(assignment.env(), assignment.policy());
  auto env = common::MakeEnvironment(assignment.env().task(), assignment.env().episode_length());
  auto policy = common::MlpPolicy::Create(*layout, params);
  EXPECT_TRUE(env.ok() && policy.ok());
  common::EpisodeOptions options;
  if (episode.has_skill()) options.skill = episode.skill();
  if (episode.has_noise_seed()) options.noise_seed = episode.noise_seed();
  options.exploration_std = episode.exploration_std();
  common::EpisodeResult result;
  common::RunEpisode(**env, *policy, options, episode.seed(), assignment.record_transitions(),
                     &result);
  return result;
}

// Reads results until `episodes` last chunks have arrived; returns the chunks by index, in
// arrival order. False if the stream ended first.
bool ReadResults(ServerStream* stream, int episodes,
                 std::map<int, std::vector<gdaqd::v1::EpisodeResult>>* by_index) {
  int finished = 0;
  gdaqd::v1::WorkerMessage message;
  while (finished < episodes && stream->Read(&message)) {
    EXPECT_TRUE(message.has_result());
    (*by_index)[message.result().index()].push_back(message.result());
    if (message.result().last_chunk()) ++finished;
  }
  return finished == episodes;
}

// Blocks until the client goes away (its Shutdown() cancels the stream).
grpc::Status ReadUntilClosed(ServerStream* stream) {
  gdaqd::v1::WorkerMessage message;
  while (stream->Read(&message)) {
  }
  return grpc::Status::OK;
}

gdaqd::v1::CoordinatorMessage Wrap(gdaqd::v1::Assignment assignment) {
  gdaqd::v1::CoordinatorMessage message;
  *message.mutable_assignment() = std::move(assignment);
  return message;
}

// Serves `assignment` to a real CoordinatorClient on its first stream and collects the chunks
// of `count` episodes by index (fatal failure if they do not all arrive in time); the client is
// shut down before this returns.
void RunOneAssignment(const gdaqd::v1::Assignment& assignment, int count,
                      std::map<int, std::vector<gdaqd::v1::EpisodeResult>>* results) {
  absl::Notification received;
  FakeCoordinator coordinator([&](int, ServerStream* stream) {
    gdaqd::v1::WorkerMessage message;
    if (!stream->Read(&message)) return grpc::Status(grpc::StatusCode::INTERNAL, "no hello");
    stream->Write(Wrap(assignment));
    if (ReadResults(stream, count, results)) received.Notify();
    return ReadUntilClosed(stream);
  });
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(TestOptions(coordinator.address())));
  ClientRunner runner(client.get());
  ASSERT_TRUE(received.WaitForNotificationWithTimeout(kWaitTimeout));
}

TEST(CoordinatorClientTest, CreateRejectsBadOptions) {
  CoordinatorClientOptions options = TestOptions("127.0.0.1:1");
  options.threads = 0;
  EXPECT_THAT(CoordinatorClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("threads")));
  options = TestOptions("127.0.0.1:1");
  options.worker_id = "";
  EXPECT_THAT(CoordinatorClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_id")));
  options = TestOptions("127.0.0.1:1");
  options.max_chunk_bytes = 2 * kMaxTransitionChunkBytes;
  EXPECT_THAT(CoordinatorClient::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_chunk_bytes")));
}

TEST(CoordinatorClientTest, SendsHelloAndStreamsChunkedResultsOfAnAssignment) {
  constexpr int kEpisodes = 3;
  const gdaqd::v1::Assignment assignment = MakeAssignment(42, kEpisodes);
  gdaqd::v1::WorkerHello hello;
  std::map<int, std::vector<gdaqd::v1::EpisodeResult>> results;
  absl::Notification received;
  FakeCoordinator coordinator([&](int, ServerStream* stream) {
    gdaqd::v1::WorkerMessage message;
    if (!stream->Read(&message)) return grpc::Status(grpc::StatusCode::INTERNAL, "no hello");
    hello = message.hello();
    stream->Write(Wrap(assignment));
    if (ReadResults(stream, kEpisodes, &results)) received.Notify();
    return ReadUntilClosed(stream);
  });
  ASSERT_TRUE(coordinator.started());
  CoordinatorClientOptions options = TestOptions(coordinator.address());
  options.max_chunk_bytes = 1000;  // 27 rows of 36 bytes: 250 rows -> 10 chunks
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(options));
  ClientRunner runner(client.get());
  ASSERT_TRUE(received.WaitForNotificationWithTimeout(kWaitTimeout));

  EXPECT_EQ(hello.worker_id(), "test-worker");
  EXPECT_EQ(hello.threads(), 2);
  EXPECT_EQ(hello.version(), GDAQD_VERSION);
  ASSERT_EQ(results.size(), static_cast<size_t>(kEpisodes));
  for (int i = 0; i < kEpisodes; ++i) {
    SCOPED_TRACE(i);
    const std::vector<gdaqd::v1::EpisodeResult>& chunks = results[i];
    const common::EpisodeResult expected = RunDirectly(assignment, i);
    ASSERT_EQ(expected.length, kEpisodeLength);  // point_maze does not terminate early
    ASSERT_EQ(chunks.size(), 10u);
    std::string transitions;
    for (size_t c = 0; c < chunks.size(); ++c) {
      EXPECT_EQ(chunks[c].lease_id(), 42u);
      EXPECT_EQ(chunks[c].chunk(), static_cast<int>(c));
      EXPECT_EQ(chunks[c].last_chunk(), c + 1 == chunks.size());
      EXPECT_TRUE(chunks[c].error().empty()) << chunks[c].error();
      transitions += chunks[c].transitions();
    }
    const gdaqd::v1::EpisodeResult& last = chunks.back();
    const float fitness = last.fitness();
    EXPECT_EQ(std::memcmp(&expected.fitness, &fitness, sizeof(float)), 0);
    EXPECT_THAT(last.behavior_descriptor(), ::testing::ElementsAreArray(expected.descriptor));
    EXPECT_EQ(last.length(), expected.length);
    EXPECT_EQ(last.terminated(), expected.terminated);
    EXPECT_EQ(last.diverged(), expected.diverged);
    ASSERT_EQ(transitions.size(), expected.transitions.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(transitions.data(), expected.transitions.data(), transitions.size()), 0);
  }

  client->Shutdown();
  ASSERT_TRUE(runner.WaitDone());
  GDAQD_EXPECT_OK(runner.status());
}

TEST(CoordinatorClientTest, BadEpisodesComeBackAsErrors) {
  gdaqd::v1::Assignment assignment = MakeAssignment(5, 3);
  assignment.mutable_episodes(1)->mutable_params()->resize(12);  // 3 floats
  assignment.mutable_episodes(2)->mutable_params()->resize(13);  // not whole floats
  std::map<int, std::vector<gdaqd::v1::EpisodeResult>> results;
  ASSERT_NO_FATAL_FAILURE(RunOneAssignment(assignment, 3, &results));

  EXPECT_TRUE(results[0].back().error().empty());
  ASSERT_EQ(results[1].size(), 1u);
  EXPECT_TRUE(results[1][0].last_chunk());
  EXPECT_EQ(results[1][0].lease_id(), 5u);
  EXPECT_THAT(results[1][0].error(), HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(results[1][0].error(), HasSubstr("policy has 3 parameters"));
  ASSERT_EQ(results[2].size(), 1u);
  EXPECT_THAT(results[2][0].error(), HasSubstr("13 bytes"));
}

TEST(CoordinatorClientTest, ReconnectsAfterTheStreamIsClosed) {
  const gdaqd::v1::Assignment first = MakeAssignment(1, 3);
  const gdaqd::v1::Assignment second = MakeAssignment(2, 3);
  std::map<int, std::vector<gdaqd::v1::EpisodeResult>> results;
  absl::Notification received;
  FakeCoordinator coordinator([&](int connection, ServerStream* stream) {
    gdaqd::v1::WorkerMessage message;
    if (!stream->Read(&message) || !message.has_hello()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "no hello");
    }
    if (connection == 0) {
      // Hand out work, then drop the stream before its results can arrive.
      stream->Write(Wrap(first));
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator restarting");
    }
    stream->Write(Wrap(second));
    if (ReadResults(stream, 3, &results)) received.Notify();
    return ReadUntilClosed(stream);
  });
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(TestOptions(coordinator.address())));
  ClientRunner runner(client.get());
  ASSERT_TRUE(received.WaitForNotificationWithTimeout(kWaitTimeout));

  // Nothing of the first stream's lease leaks into the second stream.
  ASSERT_EQ(results.size(), 3u);
  for (const auto& [index, chunks] : results) {
    for (const gdaqd::v1::EpisodeResult& chunk : chunks) EXPECT_EQ(chunk.lease_id(), 2u);
    EXPECT_EQ(chunks.back().fitness(), RunDirectly(second, index).fitness);
  }
  client->Shutdown();
  ASSERT_TRUE(runner.WaitDone());
  GDAQD_EXPECT_OK(runner.status());
}

TEST(CoordinatorClientTest, StopsWhenTheCoordinatorRefusesTheWorker) {
  FakeCoordinator coordinator([](int, ServerStream* stream) {
    gdaqd::v1::WorkerMessage message;
    stream->Read(&message);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("worker version ", message.hello().version(),
                                     " != coordinator version 9.9.9"));
  });
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(TestOptions(coordinator.address())));
  ClientRunner runner(client.get());
  ASSERT_TRUE(runner.WaitDone());
  EXPECT_THAT(runner.status(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("9.9.9")));
}

// An address where nothing listens: a server's port, after the server is gone.
std::string ClosedAddress() {
  FakeCoordinator coordinator([](int, ServerStream*) { return grpc::Status::OK; });
  return coordinator.address();
}

TEST(CoordinatorClientTest, GivesUpAfterMaxReconnectAttempts) {
  CoordinatorClientOptions options = TestOptions(ClosedAddress());
  options.max_reconnect_attempts = 2;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(options));
  ClientRunner runner(client.get());
  ASSERT_TRUE(runner.WaitDone());
  EXPECT_THAT(runner.status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("after 3 failed attempts")));
}

TEST(CoordinatorClientTest, ShutdownInterruptsReconnectBackoff) {
  absl::Notification refused;
  FakeCoordinator coordinator([&](int, ServerStream* stream) {
    gdaqd::v1::WorkerMessage message;
    stream->Read(&message);
    refused.Notify();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "not ready");
  });
  CoordinatorClientOptions options = TestOptions(coordinator.address());
  options.initial_backoff = absl::Hours(1);
  options.max_backoff = absl::Hours(1);
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(options));
  ClientRunner runner(client.get());
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(kWaitTimeout));
  client->Shutdown();  // the client is (about to be) waiting an hour to reconnect
  ASSERT_TRUE(runner.WaitDone());
  GDAQD_EXPECT_OK(runner.status());
}

TEST(CoordinatorClientTest, ShutdownBeforeRunReturnsOk) {
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                             CoordinatorClient::Create(TestOptions(ClosedAddress())));
  client->Shutdown();
  GDAQD_EXPECT_OK(client->Run());
}

// A lease of 3 exploration episodes of a 3-skill policy of `kind` (noise of std 0.1 for
// DETERMINISTIC): skills 0, 1, 2; noise seeds 11, 12 and none (an evaluation episode); actor
// versions 7, 8, 9. The parameters do not depend on the lease id, so a re-queue can reuse them.
gdaqd::v1::Assignment MakeExplorationAssignment(uint64_t lease_id,
                                                gdaqd::v1::PolicyConfig::Kind kind) {
  gdaqd::v1::Assignment assignment;
  assignment.set_lease_id(lease_id);
  assignment.set_deadline_unix_ms(absl::ToUnixMillis(absl::Now() + absl::Minutes(1)));
  assignment.mutable_env()->set_task("point_maze");
  assignment.mutable_env()->set_episode_length(kEpisodeLength);
  gdaqd::v1::PolicyConfig* policy = assignment.mutable_policy();
  policy->add_hidden_sizes(16);
  policy->add_hidden_sizes(16);
  policy->set_hidden_activation("relu");
  policy->set_kind(kind);
  policy->set_num_skills(3);
  const bool gaussian = kind == gdaqd::v1::PolicyConfig::TANH_GAUSSIAN;
  policy->set_output_activation(gaussian ? "identity" : "tanh");
  if (gaussian) policy->set_min_std(0.001f);
  assignment.set_record_transitions(true);
  const absl::StatusOr<common::MlpLayout> layout =
      common::PolicyLayout(assignment.env(), assignment.policy());
  EXPECT_TRUE(layout.ok()) << layout.status();
  for (int i = 0; i < 3; ++i) {
    gdaqd::v1::Episode* episode = assignment.add_episodes();
    episode->set_index(i);
    episode->set_seed(100 + i);
    episode->set_skill(i);
    if (i < 2) {
      episode->set_noise_seed(11 + i);
      if (!gaussian) episode->set_exploration_std(0.1f);
    }
    episode->set_actor_version(7 + i);
    std::vector<float> params(layout->num_params());
    common::InitLecunUniform(*layout, 500 + i, absl::MakeSpan(params));
    episode->set_params(params.data(), params.size() * sizeof(float));
  }
  return assignment;
}

// The transitions of one episode's chunks, concatenated.
std::string Transitions(const std::vector<gdaqd::v1::EpisodeResult>& chunks) {
  std::string transitions;
  for (const gdaqd::v1::EpisodeResult& chunk : chunks) transitions += chunk.transitions();
  return transitions;
}

TEST(CoordinatorClientTest, RequeuedExplorationLeaseGivesIdenticalResultsOnAnotherWorker) {
  for (const auto kind :
       {gdaqd::v1::PolicyConfig::DETERMINISTIC, gdaqd::v1::PolicyConfig::TANH_GAUSSIAN}) {
    SCOPED_TRACE(gdaqd::v1::PolicyConfig::Kind_Name(kind));
    // Connection c (worker c) gets the same episodes as lease 10 + c: the second is the re-queue
    // of the first.
    std::map<int, std::vector<gdaqd::v1::EpisodeResult>> results[2];
    absl::Notification received[2];
    FakeCoordinator coordinator([&](int connection, ServerStream* stream) {
      gdaqd::v1::WorkerMessage message;
      if (!stream->Read(&message) || connection > 1) {
        return grpc::Status(grpc::StatusCode::INTERNAL, "unexpected connection");
      }
      stream->Write(Wrap(MakeExplorationAssignment(10 + connection, kind)));
      if (ReadResults(stream, 3, &results[connection])) received[connection].Notify();
      return ReadUntilClosed(stream);
    });
    CoordinatorClientOptions options = TestOptions(coordinator.address());
    options.max_chunk_bytes = 1000;  // several chunks per episode
    for (int worker = 0; worker < 2; ++worker) {
      options.worker_id = absl::StrCat("worker-", worker);
      GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<CoordinatorClient> client,
                                 CoordinatorClient::Create(options));
      ClientRunner runner(client.get());
      ASSERT_TRUE(received[worker].WaitForNotificationWithTimeout(kWaitTimeout));
    }  // the first worker is gone before the second connects

    const gdaqd::v1::Assignment assignment = MakeExplorationAssignment(10, kind);
    std::string first_transitions[3];
    for (int i = 0; i < 3; ++i) {
      SCOPED_TRACE(i);
      const common::EpisodeResult expected = RunDirectly(assignment, i);
      for (int worker = 0; worker < 2; ++worker) {
        const std::vector<gdaqd::v1::EpisodeResult>& chunks = results[worker][i];
        ASSERT_FALSE(chunks.empty());
        ASSERT_GT(chunks.size(), 1u);
        for (const gdaqd::v1::EpisodeResult& chunk : chunks) {
          EXPECT_TRUE(chunk.error().empty()) << chunk.error();
          EXPECT_EQ(chunk.lease_id(), 10u + worker);
          EXPECT_EQ(chunk.actor_version(), 7u + i);
          ASSERT_TRUE(chunk.has_skill());
          EXPECT_EQ(chunk.skill(), i);
        }
        const std::string transitions = Transitions(chunks);
        ASSERT_EQ(transitions.size(), expected.transitions.size() * sizeof(float));
        EXPECT_EQ(std::memcmp(transitions.data(), expected.transitions.data(), transitions.size()),
                  0);
        const float fitness = chunks.back().fitness();
        EXPECT_EQ(std::memcmp(&fitness, &expected.fitness, sizeof(float)), 0);
        if (worker == 0) {
          first_transitions[i] = transitions;
        } else {
          EXPECT_EQ(transitions, first_transitions[i]);
        }
      }
    }
    // Different noise seeds and skills give different episodes.
    EXPECT_NE(first_transitions[0], first_transitions[1]);
    EXPECT_NE(first_transitions[1], first_transitions[2]);
  }
}

TEST(CoordinatorClientTest, BadExplorationFieldsComeBackAsErrorsNamingTheField) {
  gdaqd::v1::Assignment assignment =
      MakeExplorationAssignment(6, gdaqd::v1::PolicyConfig::DETERMINISTIC);
  assignment.mutable_episodes(0)->set_skill(3);                   // out of range
  assignment.mutable_episodes(1)->set_exploration_std(0);         // noise_seed without a std
  assignment.mutable_episodes(2)->set_exploration_std(0.1f);      // a std without noise_seed
  gdaqd::v1::Episode* missing_skill = assignment.add_episodes();  // skill required
  *missing_skill = assignment.episodes(2);
  missing_skill->set_index(3);
  missing_skill->clear_skill();
  missing_skill->set_exploration_std(0);
  gdaqd::v1::Episode* good = assignment.add_episodes();  // still runs
  *good = assignment.episodes(3);
  good->set_index(4);
  good->set_skill(1);
  std::map<int, std::vector<gdaqd::v1::EpisodeResult>> results;
  ASSERT_NO_FATAL_FAILURE(RunOneAssignment(assignment, 5, &results));

  const char* const kErrors[] = {"skill is 3, policy has 3 skills", "exploration_std is 0,",
                                 "exploration_std is 0.1 but the episode has no noise_seed",
                                 "skill is required for a policy with 3 skills"};
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(results[i].size(), 1u);
    EXPECT_THAT(results[i][0].error(), HasSubstr("INVALID_ARGUMENT"));
    EXPECT_THAT(results[i][0].error(), HasSubstr(kErrors[i]));
    EXPECT_EQ(results[i][0].actor_version(), assignment.episodes(i).actor_version());
  }
  EXPECT_TRUE(results[4].back().error().empty()) << results[4].back().error();
  EXPECT_EQ(Transitions(results[4]).size(),
            RunDirectly(assignment, 4).transitions.size() * sizeof(float));
}

}  // namespace
}  // namespace gdaqd::worker
