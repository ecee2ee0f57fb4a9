// Issue 8's table of bad inputs, row by row, against a real coordinator on 127.0.0.1 (in this
// process, so its memory is this process's) with a real worker and a bystander experiment
// running: each bad input gets its gRPC code and a message naming the problem, the server stays
// up, and the bystander keeps running untouched. The worker-side rows (a worker that hangs,
// over-claims threads, floods chunks, forges results or transitions, never says hello) are in
// fake_worker_test.cc; a per-experiment re-queue count in scheduler_hardening_test.cc.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "common/subprocess.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/service/coordinator.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(60);

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

// Text format to proto without validation (ParseExperimentConfig validates: the server must be
// the one that refuses).
v1::ExperimentConfig Parse(const std::string& text) {
  v1::ExperimentConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

// PointMaze MAP-Elites with the default 50x50 grid and (64,64) policy: ~45 MB of dense archive.
v1::ExperimentConfig Small(int64_t budget) {
  return Parse(absl::StrCat(R"pb(env { task: "point_maze" episode_length: 20 }
                                 budget { max_evaluations:)pb",
                            budget, "}"));
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/gdaqd_bad_input_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    server::CoordinatorOptions options;
    options.listen_address = "127.0.0.1:0";
    options.state_dir = dir_ + "/state";
    auto coordinator = server::Coordinator::Start(options);
    ASSERT_TRUE(coordinator.ok()) << coordinator.status();
    coordinator_ = std::move(coordinator).value();
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    common::Subprocess::Options worker_options;
    worker_options.log_path = dir_ + "/worker.log";
    auto worker =
        common::Subprocess::Spawn({GDAQD_WORKER_BINARY, absl::StrCat("--coordinator=", address_),
                                   "--threads=1", absl::StrCat("--worker_id=bad-input-", getpid())},
                                  worker_options);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(worker).value();
    auto client = client::ExperimentClient::Connect(address_, kTimeout);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    // The bystander: a long experiment that every row must leave alone.
    auto id = client_->Submit(Small(100'000'000));
    ASSERT_TRUE(id.ok()) << id.status();
    bystander_ = *id;
  }

  void TearDown() override {
    if (client_ != nullptr && !bystander_.empty()) (void)client_->Cancel(bystander_);
    if (worker_ != nullptr) worker_->Stop(absl::Seconds(5));
    if (coordinator_ != nullptr) coordinator_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  // The bystander is still running and still making progress.
  void ExpectBystanderUntouched() {
    auto before = client_->Get(bystander_);
    ASSERT_TRUE(before.ok()) << before.status();
    const absl::Time deadline = absl::Now() + kTimeout;
    while (absl::Now() < deadline) {
      auto now = client_->Get(bystander_);
      ASSERT_TRUE(now.ok()) << now.status();
      ASSERT_FALSE(now->state() >= v1::SUCCEEDED) << now->error();
      if (now->state() == v1::RUNNING &&
          now->progress().evaluations() > before->progress().evaluations()) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "the bystander made no progress";
  }

  std::string dir_, address_, bystander_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::unique_ptr<common::Subprocess> worker_;
  std::unique_ptr<client::ExperimentClient> client_;
};

struct SubmitRow {
  std::string probe;   // the issue's row
  std::string config;  // text format
  absl::StatusCode code;
  std::string message;  // a substring of the refusal
};

TEST_F(BadInputTest, EverySubmitProbeGetsItsCodeAndMessageAndChangesNothing) {
  const std::string huge_name(15 << 20, 'n');
  const std::vector<SubmitRow> rows = {
      {"grid 978 x 978", R"pb(env { task: "point_maze" }
                              archive { cells_per_dim: [ 978, 978 ] }
                              budget { max_evaluations: 100 })pb",
       absl::StatusCode::kResourceExhausted, "--max_experiment_bytes"},
      {"cvt_samples 2^31-1",
       R"pb(env { task: "point_maze" }
            archive { type: CVT num_centroids: 100 cvt_samples: 2147483647 }
            budget { max_evaluations: 100 })pb",
       absl::StatusCode::kInvalidArgument, "archive.cvt_samples"},
      {"hidden_sizes of eight 4096s",
       R"pb(env { task: "point_maze" }
            policy { hidden_sizes: [ 4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096 ] }
            budget { max_evaluations: 100 })pb",
       absl::StatusCode::kResourceExhausted, "message"},
      {"policy [4096, 1024] (16.8 MB per episode)",
       R"pb(env { task: "point_maze" }
            policy { hidden_sizes: [ 4096, 1024 ] }
            archive { cells_per_dim: [ 2, 2 ] }
            budget { max_evaluations: 100 })pb",
       absl::StatusCode::kResourceExhausted, "message"},
      {"grid 3162 x 3162", R"pb(env { task: "point_maze" }
                                archive { cells_per_dim: [ 3162, 3162 ] }
                                budget { max_evaluations: 100 })pb",
       absl::StatusCode::kResourceExhausted, "--max_experiment_bytes"},
      {"15 MiB name",
       absl::StrCat("name: \"", huge_name, "\" env { task: \"point_maze\" } ",
                    "budget { max_evaluations: 100 }"),
       absl::StatusCode::kInvalidArgument, "name: must be at most 256 bytes"},
      {"15 MiB name again",
       absl::StrCat("name: \"", huge_name, "\" env { task: \"point_maze\" } ",
                    "budget { max_evaluations: 100 }"),
       absl::StatusCode::kInvalidArgument, "name: must be at most 256 bytes"},
  };
  for (const SubmitRow& row : rows) {
    SCOPED_TRACE(row.probe);
    absl::StatusOr<std::string> id = client_->Submit(Parse(row.config));
    EXPECT_EQ(id.status().code(), row.code) << id.status();
    EXPECT_THAT(std::string(id.status().message()), HasSubstr(row.message));
    EXPECT_LT(id.status().message().size(), 1100u) << "the message echoes the input";
  }
  // Nothing was created, and listing still works for everybody.
  auto all = client_->List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].id(), bystander_);
  ExpectBystanderUntouched();
}

TEST_F(BadInputTest, IdsAreExactAndUnknownOnesAreNotFound) {
  for (const std::string& id :
       std::vector<std::string>{bystander_ + " ", " " + bystander_, "exp-01", "exp-999"}) {
    EXPECT_EQ(client_->Get(id).status().code(), absl::StatusCode::kNotFound) << "'" << id << "'";
  }
  EXPECT_EQ(client_->Delete(bystander_).code(), absl::StatusCode::kFailedPrecondition);
  ExpectBystanderUntouched();
}

// 20 finished experiments used to keep their dense archives and algorithms forever (+860 MiB).
TEST_F(BadInputTest, FinishedExperimentsReleaseTheirMemory) {
  const int64_t before = ResidentBytes();
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto id = client_->Submit(Small(100));
    ASSERT_TRUE(id.ok()) << id.status();
    auto done = client_->Watch(*id, [](const v1::ExperimentStatus&) {});
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::SUCCEEDED) << done->error();
    ids.push_back(*id);
  }
  const int64_t growth = ResidentBytes() - before;
  EXPECT_LT(growth, int64_t{200} << 20) << "RSS grew " << (growth >> 20) << " MiB";
  // Their archives are still there, read from disk.
  auto exported = client_->Export(ids.front());
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_GT(exported->elites.size(), 0u);
  // And a delete frees the id's files for good.
  GDAQD_EXPECT_OK(client_->Delete(ids.front()));
  EXPECT_EQ(client_->Get(ids.front()).status().code(), absl::StatusCode::kNotFound);
  ExpectBystanderUntouched();
}

// 20 exports whose readers stop reading used to hold a copy of the archive each, forever.
TEST_F(BadInputTest, StalledExportReadersAreCappedAndHoldLittle) {
  // ~1,000 elites of 18 KB: far more than gRPC's flow-control windows, so streams do stall.
  auto id = client_->Submit(Small(4000));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(client_->Watch(*id, [](const v1::ExperimentStatus&) {}).ok());
  // A reader that really stops: no window growth (BDP probing) and a 64 KiB stream window, so
  // the server, not this client, is where an unread export would pile up.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  args.SetMaxReceiveMessageSize(common::kMaxGrpcMessageBytes);
  auto channel = grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
  auto stub = v1::ExperimentService::NewStub(channel);
  const int64_t before = ResidentBytes();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::ExportArchiveResponse>>> readers;
  int open = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    contexts.back()->set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
    v1::ExportArchiveRequest request;
    request.set_id(*id);
    readers.push_back(stub->ExportArchive(contexts.back().get(), request));
    v1::ExportArchiveResponse first;
    if (readers.back()->Read(&first)) {
      ++open;  // and then stop reading
    } else {
      grpc::Status status = readers.back()->Finish();
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("archive exports are open at once"));
      ++refused;
    }
  }
  EXPECT_EQ(open, server::ExperimentServiceImpl::kDefaultMaxExportStreams);
  EXPECT_EQ(refused, 20 - open);
  const int64_t growth = ResidentBytes() - before;
  EXPECT_LT(growth, int64_t{100} << 20) << "RSS grew " << (growth >> 20) << " MiB";
  ExpectBystanderUntouched();
  for (auto& context : contexts) context->TryCancel();
}

// A CVT that takes long to build used to stay PENDING after cancel and hold up SIGTERM.
TEST_F(BadInputTest, CancelAndShutdownInterruptALongCvtConstruction) {
  const v1::ExperimentConfig cvt = Parse(R"pb(
    env { task: "point_maze" }
    archive { type: CVT num_centroids: 100000 cvt_samples: 3000000 }
    budget { max_evaluations: 100 })pb");
  auto cancelled = client_->Submit(cvt);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  absl::SleepFor(absl::Milliseconds(200));  // let the construction start
  ASSERT_TRUE(client_->Cancel(*cancelled).ok());
  auto done = client_->Watch(*cancelled, [](const v1::ExperimentStatus&) {});
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::CANCELLED);
  ExpectBystanderUntouched();
  // Shutdown with another construction under way ends within the documented bound.
  ASSERT_TRUE(client_->Submit(cvt).ok());
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  coordinator_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace gdaqd
