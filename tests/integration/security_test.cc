// docs/cluster.md §1 against a real coordinator on 127.0.0.1:0 with TLS, mutual TLS for workers
// and a tokens file: plaintext clients, missing/unknown/expired tokens, every role against every
// RPC, experiment ownership, submitted_by, a real gdaqd-worker over TLS, and the refusal of a
// non-loopback listen address without TLS and tokens. Certificates are made at test time with
// OpenSSL's library (EVP_PKEY / X509 APIs), not the CLI.
#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/experiment_client.h"
#include "common/config/config.h"
#include "common/grpc_status.h"
#include "common/subprocess.h"
#include "common/thread.h"
#include "common/tls.h"
#include "gdaqd/v1/coordinator.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/coordinator.h"
#include "tests/testing/raw_call.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kRpcDeadline = absl::Seconds(10);
constexpr absl::Duration kConnectTimeout = absl::Seconds(10);
constexpr absl::Duration kRunTimeout = absl::Seconds(100);  // the end-to-end experiment

constexpr char kWorkerToken[] = "tok-worker-w1-0123456789abcdef";
constexpr char kReaderToken[] = "tok-reader-alice-0123456789abc";
constexpr char kSubmitterToken[] = "tok-submitter-bob-0123456789ab";
constexpr char kOtherSubmitterToken[] = "tok-submitter-carol-0123456789";
constexpr char kAdminToken[] = "tok-admin-root-0123456789abcde";
constexpr char kExpiredToken[] = "tok-expired-dave-0123456789abc";

// ---------------------------------------------------------------------------------------------
// Certificates with OpenSSL's library.

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

KeyPtr NewKey() { return KeyPtr(EVP_EC_gen("P-256"), EVP_PKEY_free); }

void AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
  ASSERT_NE(ext, nullptr) << value;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by `issuer` (null: self-signed CA).
CertPtr MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                 const std::string& extended_usage, const std::string& san) {
  static int serial = 1;
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (issuer == nullptr) {
    AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  } else {
    AddExtension(cert.get(), &ctx, NID_basic_constraints, "CA:FALSE");
    AddExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    AddExtension(cert.get(), &ctx, NID_ext_key_usage, extended_usage.c_str());
    if (!san.empty()) AddExtension(cert.get(), &ctx, NID_subject_alt_name, san.c_str());
  }
  EXPECT_GT(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()), 0);
  return cert;
}

std::string ToPem(X509* cert, EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (cert != nullptr) PEM_write_bio_X509(bio.get(), cert);
  if (key != nullptr) {
    PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

// Writes ca.pem, server.pem/.key (SAN localhost, 127.0.0.1) and worker.pem/.key into `dir`.
void MakeCertificates(const std::string& dir) {
  KeyPtr ca_key = NewKey(), server_key = NewKey(), worker_key = NewKey();
  ASSERT_TRUE(ca_key && server_key && worker_key);
  CertPtr ca = MakeCert(ca_key.get(), "gdaqd test CA", nullptr, nullptr, "", "");
  CertPtr server = MakeCert(server_key.get(), "gdaqd-coordinator", ca.get(), ca_key.get(),
                            "serverAuth", "DNS:localhost,IP:127.0.0.1");
  CertPtr worker =
      MakeCert(worker_key.get(), "gdaqd-worker-1", ca.get(), ca_key.get(), "clientAuth", "");
  WriteFile(dir + "/ca.pem", ToPem(ca.get(), nullptr));
  WriteFile(dir + "/server.pem", ToPem(server.get(), nullptr));
  WriteFile(dir + "/server.key", ToPem(nullptr, server_key.get()));
  WriteFile(dir + "/worker.pem", ToPem(worker.get(), nullptr));
  WriteFile(dir + "/worker.key", ToPem(nullptr, worker_key.get()));
}

// ---------------------------------------------------------------------------------------------

// A status's message is one line.
void ExpectOneLine(const absl::Status& status) {
  EXPECT_FALSE(status.message().empty()) << status;
  EXPECT_FALSE(absl::StrContains(status.message(), '\n')) << status;
}

v1::ExperimentConfig SmallConfig(int64_t budget) {
  auto config = common::ParseExperimentConfig(absl::StrCat(
      "name: \"security\" seed: 3 initial_population: 50 "
      "env { task: \"point_maze\" episode_length: 50 } archive { cells_per_dim: [8, 8] } "
      "emitter { batch_size: 50 } budget { max_evaluations: ",
      budget, " }"));
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::FreshTempDir("security"));
    MakeCertificates(*dir_);
    WriteFile(*dir_ + "/tokens",
              absl::StrCat("# test tokens\n", kWorkerToken, " worker w1\n", kReaderToken,
                           " reader alice\n", kSubmitterToken, " submitter bob\n",
                           kOtherSubmitterToken, " submitter carol\n", kAdminToken,
                           " admin root expires=2999-01-01T00:00:00Z\n", kExpiredToken,
                           " submitter dave expires=2001-01-01T00:00:00Z\n"));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    server::CoordinatorOptions options;
    options.listen_address = "127.0.0.1:0";
    options.tls = {Path("server.pem"), Path("server.key"), Path("ca.pem")};
    options.tokens_file = Path("tokens");
    options.health_listen = "127.0.0.1:0";
    GDAQD_ASSERT_OK_AND_ASSIGN(coordinator_, server::Coordinator::Start(options));
    address_ = absl::StrCat("127.0.0.1:", coordinator_->port());
    health_address_ = absl::StrCat("127.0.0.1:", coordinator_->health_port());
  }
  void TearDown() override {
    if (coordinator_ != nullptr) coordinator_->Shutdown();
  }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  // Client credentials: TLS trusting the test CA (with the worker's client certificate when
  // `client_cert`) and `token` (empty: none).
  common::ClientSecurity Security(const std::string& token, bool client_cert = false) {
    common::ClientSecurityOptions options;
    options.ca_file = Path("ca.pem");
    if (client_cert) {
      options.cert_file = Path("worker.pem");
      options.key_file = Path("worker.key");
    }
    absl::StatusOr<common::ClientSecurity> security = common::LoadClientSecurity(options);
    EXPECT_TRUE(security.ok()) << security.status();
    security->bearer_token = token;
    return *security;
  }

  std::shared_ptr<grpc::Channel> Channel(const common::ClientSecurity& security) {
    grpc::ChannelArguments args;
    security.ApplyTo(&args);
    return grpc::CreateCustomChannel(address_, security.channel_credentials, args);
  }

  std::unique_ptr<client::ExperimentClient> Client(const std::string& token) {
    absl::StatusOr<std::unique_ptr<client::ExperimentClient>> client =
        client::ExperimentClient::Connect(address_, kConnectTimeout, Security(token));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  static std::string* dir_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::string address_;
  std::string health_address_;  // --health_listen: plaintext, grpc.health.v1 only
};

std::string* SecurityTest::dir_ = nullptr;

// ---------------------------------------------------------------------------------------------
// Every RPC, raw, with a deadline.

enum class Rpc { kConnect, kGet, kList, kWatch, kExport, kSubmit, kCancel, kDelete };

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kConnect:
      return "Connect";
    case Rpc::kGet:
      return "GetExperiment";
    case Rpc::kList:
      return "ListExperiments";
    case Rpc::kWatch:
      return "WatchExperiment";
    case Rpc::kExport:
      return "ExportArchive";
    case Rpc::kSubmit:
      return "SubmitExperiment";
    case Rpc::kCancel:
      return "CancelExperiment";
    case Rpc::kDelete:
      return "DeleteExperiment";
  }
  return "?";
}

// Opens WorkerService.Connect and says hello with a wrong version: FAILED_PRECONDITION once the
// stream got past the security checks.
grpc::Status CallConnect(grpc::ClientContext* context,
                         const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::WorkerService::NewStub(channel);
  auto stream = stub->Connect(context);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_worker_id("security-test");
  hello.mutable_hello()->set_threads(1);
  hello.mutable_hello()->set_version("0.0.0-not-this-version");
  stream->Write(hello);
  stream->WritesDone();
  v1::CoordinatorMessage message;
  while (stream->Read(&message)) {
  }
  return stream->Finish();
}

// Reads a server stream to its end; returns its status.
template <typename Message>
grpc::Status Drain(std::unique_ptr<grpc::ClientReader<Message>> reader) {
  Message message;
  while (reader->Read(&message)) {
  }
  return reader->Finish();
}

// Calls `rpc` on `channel` with `security`'s token. Requests are chosen so that an authorized
// call fails for a reason after the check (unknown id "exp-999", an empty config, a wrong worker
// version), so nothing starts.
absl::Status CallRpc(Rpc rpc, const std::shared_ptr<grpc::Channel>& channel,
                     const common::ClientSecurity& security) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  security.Authorize(&context);
  auto stub = v1::ExperimentService::NewStub(channel);
  v1::GetExperimentRequest get;  // the id-only requests have the same wire format
  get.set_id("exp-999");
  const std::string id_request = get.SerializeAsString();
  auto with_id = [&id_request](auto request) {
    request.ParseFromString(id_request);
    return request;
  };
  grpc::Status status;
  switch (rpc) {
    case Rpc::kConnect:
      return common::FromGrpcStatus(CallConnect(&context, channel));
    case Rpc::kGet: {
      v1::ExperimentStatus response;
      status = stub->GetExperiment(&context, get, &response);
      break;
    }
    case Rpc::kList: {
      v1::ListExperimentsResponse response;
      status = stub->ListExperiments(&context, v1::ListExperimentsRequest(), &response);
      break;
    }
    case Rpc::kWatch:
      status = Drain(stub->WatchExperiment(&context, with_id(v1::WatchExperimentRequest())));
      break;
    case Rpc::kExport:
      status = Drain(stub->ExportArchive(&context, with_id(v1::ExportArchiveRequest())));
      break;
    case Rpc::kSubmit: {
      v1::SubmitExperimentResponse response;  // an empty config: InvalidArgument once authorized
      status = stub->SubmitExperiment(&context, v1::SubmitExperimentRequest(), &response);
      break;
    }
    case Rpc::kCancel: {
      v1::CancelExperimentResponse response;
      status = stub->CancelExperiment(&context, with_id(v1::CancelExperimentRequest()), &response);
      break;
    }
    case Rpc::kDelete: {
      v1::DeleteExperimentResponse response;
      status = stub->DeleteExperiment(&context, with_id(v1::DeleteExperimentRequest()), &response);
      break;
    }
  }
  return common::FromGrpcStatus(status);
}

constexpr Rpc kAllRpcs[] = {Rpc::kConnect, Rpc::kGet,    Rpc::kList,   Rpc::kWatch,
                            Rpc::kExport,  Rpc::kSubmit, Rpc::kCancel, Rpc::kDelete};

// ---------------------------------------------------------------------------------------------

TEST_F(SecurityTest, EachRoleAgainstEachRpc) {
  using absl::StatusCode;
  constexpr StatusCode kDenied = StatusCode::kPermissionDenied;
  constexpr StatusCode kNotFound = StatusCode::kNotFound;
  constexpr StatusCode kBadVersion = StatusCode::kFailedPrecondition;  // Connect got through
  constexpr StatusCode kBadConfig = StatusCode::kInvalidArgument;      // Submit got through
  struct Row {
    Rpc rpc;
    StatusCode worker, reader, submitter, admin;  // docs/cluster.md's table
  };
  const Row table[] = {
      {Rpc::kConnect, kBadVersion, kDenied, kDenied, kBadVersion},
      {Rpc::kGet, kDenied, kNotFound, kNotFound, kNotFound},
      {Rpc::kList, kDenied, StatusCode::kOk, StatusCode::kOk, StatusCode::kOk},
      {Rpc::kWatch, kDenied, kNotFound, kNotFound, kNotFound},
      {Rpc::kExport, kDenied, kNotFound, kNotFound, kNotFound},
      {Rpc::kSubmit, kDenied, kDenied, kBadConfig, kBadConfig},
      {Rpc::kCancel, kDenied, kDenied, kNotFound, kNotFound},
      {Rpc::kDelete, kDenied, kDenied, kNotFound, kNotFound},
  };
  // Connect needs the client certificate (mutual TLS); user RPCs work with or without one.
  auto channel = Channel(Security("", /*client_cert=*/true));
  for (const Row& row : table) {
    const std::pair<const char*, StatusCode> cases[] = {{kWorkerToken, row.worker},
                                                        {kReaderToken, row.reader},
                                                        {kSubmitterToken, row.submitter},
                                                        {kAdminToken, row.admin}};
    for (const auto& [token, expected] : cases) {
      const absl::Status status = CallRpc(row.rpc, channel, Security(token));
      EXPECT_EQ(status.code(), expected) << RpcName(row.rpc) << " with " << token << ": " << status;
      if (!status.ok()) ExpectOneLine(status);
      if (expected == kDenied) {
        EXPECT_THAT(status.message(), HasSubstr(absl::StrCat(RpcName(row.rpc), " needs ")));
      }
    }
  }
}

TEST_F(SecurityTest, MissingUnknownAndExpiredTokensAreUnauthenticatedOnEveryRpc) {
  auto channel = Channel(Security("", /*client_cert=*/true));
  const std::pair<std::string, std::string> cases[] = {
      {"", "missing bearer token"},
      {"tok-guessed-000000000000000000", "unknown token"},
      {kExpiredToken, "token 'dave' expired at 2001-01-01T00:00:00"}};
  for (Rpc rpc : kAllRpcs) {
    for (const auto& [token, message] : cases) {
      const absl::Status status = CallRpc(rpc, channel, Security(token));
      EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated)
          << RpcName(rpc) << ": " << status;
      EXPECT_THAT(status.message(), HasSubstr(message)) << RpcName(rpc);
      EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("tok-")));  // never echoed
      ExpectOneLine(status);
    }
  }
}

TEST_F(SecurityTest, PlaintextClientAgainstTlsServerIsUnavailableWithoutHanging) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<client::ExperimentClient>> client =
      client::ExperimentClient::Connect(address_, absl::Seconds(3));
  EXPECT_THAT(client, testing::StatusIs(absl::StatusCode::kUnavailable, HasSubstr(address_)));
  if (!client.ok()) ExpectOneLine(client.status());
  // A raw call fails fast (no wait_for_ready) with UNAVAILABLE, well before its deadline.
  const absl::Status status =
      CallRpc(Rpc::kList, grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()),
              Security(kAdminToken));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  ExpectOneLine(status);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3) + kRpcDeadline);
}

TEST_F(SecurityTest, HealthPortServesHealthInClearAndRefusesEveryOtherRpc) {
  // HealthCheckRequest{service: ""} is the empty message.
  auto [health, response] = testing::RawUnaryCall(
      grpc::CreateChannel(health_address_, grpc::InsecureChannelCredentials()),
      "/grpc.health.v1.Health/Check", "", kRpcDeadline);
  ASSERT_TRUE(health.ok()) << health.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));  // HealthCheckResponse{status: SERVING}
  // The admin's token does not make a plaintext call acceptable.
  const auto plaintext = grpc::CreateChannel(health_address_, grpc::InsecureChannelCredentials());
  for (const Rpc rpc : kAllRpcs) {
    const absl::Status status = CallRpc(rpc, plaintext, Security(kAdminToken));
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << RpcName(rpc) << ": " << status;
    if (rpc != Rpc::kConnect) {  // Connect first asks for the client certificate
      EXPECT_THAT(std::string(status.message()), HasSubstr("arrived over plaintext"));
    }
    ExpectOneLine(status);
  }
  // Over TLS the same token still works on the main port.
  EXPECT_TRUE(CallRpc(Rpc::kList, Channel(Security(kAdminToken)), Security(kAdminToken)).ok());
}

TEST_F(SecurityTest, WorkerTokenCannotSubmit) {
  auto worker = Client(kWorkerToken);
  ASSERT_NE(worker, nullptr);
  absl::StatusOr<std::string> id = worker->Submit(SmallConfig(100));
  EXPECT_THAT(id, testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                    "token 'w1' has role worker; SubmitExperiment needs "
                                    "submitter or admin"));
}

TEST_F(SecurityTest, OwnershipDecidesCancelAndDeleteAndSubmittedByIsRecorded) {
  auto bob = Client(kSubmitterToken);
  auto carol = Client(kOtherSubmitterToken);
  auto alice = Client(kReaderToken);
  auto root = Client(kAdminToken);
  ASSERT_TRUE(bob && carol && alice && root);
  // No workers are connected: the experiments wait for evaluations until cancelled.
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bobs, bob->Submit(SmallConfig(1'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string other, bob->Submit(SmallConfig(1'000'000)));
  GDAQD_ASSERT_OK_AND_ASSIGN(v1::ExperimentStatus status, alice->Get(bobs));
  EXPECT_EQ(status.submitted_by(), "bob");

  absl::StatusOr<v1::ExperimentStatus> cancelled = alice->Cancel(bobs);
  EXPECT_THAT(cancelled, testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                           "token 'alice' has role reader; CancelExperiment "
                                           "needs submitter or admin"));
  cancelled = carol->Cancel(bobs);
  EXPECT_THAT(cancelled, testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                           HasSubstr("submitted by 'bob', needs admin")));
  if (!cancelled.ok()) ExpectOneLine(cancelled.status());
  GDAQD_ASSERT_OK_AND_ASSIGN(status, bob->Cancel(bobs));
  EXPECT_EQ(status.submitted_by(), "bob");
  GDAQD_ASSERT_OK(root->Cancel(other).status());  // admins cancel anyone's
  // Cancelling is asynchronous; an experiment is deletable once it reached its final state.
  for (const std::string& id : {bobs, other}) {
    GDAQD_ASSERT_OK_AND_ASSIGN(status, root->Watch(id, [](const v1::ExperimentStatus&) {}));
    EXPECT_EQ(status.state(), v1::CANCELLED);
  }

  const absl::Status deleted = carol->Delete(bobs);
  EXPECT_THAT(deleted, testing::StatusIs(absl::StatusCode::kPermissionDenied,
                                         HasSubstr("DeleteExperiment of ")));
  ExpectOneLine(deleted);
  EXPECT_THAT(alice->Delete(bobs),
              testing::StatusIs(absl::StatusCode::kPermissionDenied, ::testing::_));
  GDAQD_EXPECT_OK(bob->Delete(bobs));
  GDAQD_EXPECT_OK(root->Delete(other));
}

TEST_F(SecurityTest, ConnectNeedsAClientCertificateWhenTheServerHasAClientCa) {
  const absl::Status status = CallRpc(Rpc::kConnect, Channel(Security("")), Security(kWorkerToken));
  EXPECT_THAT(status, testing::StatusIs(absl::StatusCode::kUnauthenticated,
                                        HasSubstr("needs a client certificate")));
  ExpectOneLine(status);
  // User RPCs do not need one.
  GDAQD_EXPECT_OK(CallRpc(Rpc::kList, Channel(Security("")), Security(kReaderToken)));
}

TEST_F(SecurityTest, RealWorkerOverMutualTlsRunsAnExperimentToTheEnd) {
  WriteFile(Path("worker.token"), absl::StrCat(kWorkerToken, "\n"));
  common::Subprocess::Options options;
  options.log_path = Path("worker.log");
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<common::Subprocess> worker,
      common::Subprocess::Spawn(
          {GDAQD_WORKER_BINARY, "--coordinator=" + address_, "--threads=2",
           "--worker_id=tls-worker", "--tls_ca=" + Path("ca.pem"),
           "--tls_cert=" + Path("worker.pem"), "--tls_key=" + Path("worker.key"),
           "--token_file=" + Path("worker.token")},
          options));
  ASSERT_TRUE(coordinator_->scheduler().WaitForWorkers(1, absl::Seconds(30)))
      << "the worker did not connect; log in " << Path("worker.log");
  auto bob = Client(kSubmitterToken);
  ASSERT_NE(bob, nullptr);
  constexpr int64_t kBudget = 300;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string id, bob->Submit(SmallConfig(kBudget)));
  absl::Notification done;
  common::Thread watchdog("watchdog", [&] {
    if (!done.WaitForNotificationWithTimeout(kRunTimeout)) bob->TryCancelWatch();
  });
  absl::StatusOr<v1::ExperimentStatus> final_status =
      bob->Watch(id, [](const v1::ExperimentStatus&) {});
  done.Notify();
  watchdog.Join();
  ASSERT_TRUE(final_status.ok()) << final_status.status();
  EXPECT_EQ(final_status->state(), v1::SUCCEEDED) << final_status->error();
  EXPECT_EQ(final_status->progress().evaluations(), kBudget);
  EXPECT_EQ(final_status->submitted_by(), "bob");
  GDAQD_ASSERT_OK_AND_ASSIGN(client::ExportedArchive archive, bob->Export(id));
  EXPECT_FALSE(archive.elites.empty());
  EXPECT_EQ(worker->Stop(absl::Seconds(10)), 0);
}

TEST_F(SecurityTest, WorkerWithAReaderTokenGivesUpWithPermissionDenied) {
  WriteFile(Path("reader.token"), absl::StrCat(kReaderToken, "\n"));
  common::Subprocess::Options options;
  options.log_path = Path("reader-worker.log");
  GDAQD_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<common::Subprocess> worker,
      common::Subprocess::Spawn(
          {GDAQD_WORKER_BINARY, "--coordinator=" + address_, "--threads=1",
           "--tls_ca=" + Path("ca.pem"), "--tls_cert=" + Path("worker.pem"),
           "--tls_key=" + Path("worker.key"), "--token_file=" + Path("reader.token")},
          options));
  // A permanent refusal: the worker exits 1 instead of reconnecting forever.
  EXPECT_THAT(worker->Wait(absl::Seconds(30)), testing::IsOkAndHolds(1));
  std::ifstream log(Path("reader-worker.log"));
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(text, HasSubstr("token 'alice' has role reader; Connect needs worker or admin"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr(kReaderToken)));
}

TEST(SecurityListenTest, NonLoopbackWithoutTlsAndTokensIsRefusedUnlessAllowed) {
  server::CoordinatorOptions options;
  options.listen_address = "0.0.0.0:0";
  absl::StatusOr<std::unique_ptr<server::Coordinator>> refused =
      server::Coordinator::Start(options);
  EXPECT_THAT(refused, testing::StatusIs(
                           absl::StatusCode::kFailedPrecondition,
                           "refusing to serve 0.0.0.0:0 without TLS and tokens; add "
                           "--tls_cert/--tls_key and --tokens_file, or pass --allow_insecure on "
                           "a trusted network"));
  if (!refused.ok()) ExpectOneLine(refused.status());
  // Tokens alone are not enough.
  const std::string dir = testing::FreshTempDir("security_listen");
  WriteFile(dir + "/tokens", absl::StrCat(kAdminToken, " admin root\n"));
  options.tokens_file = dir + "/tokens";
  EXPECT_THAT(server::Coordinator::Start(options),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));

  // Without TLS a non-loopback health port would serve every RPC in clear: refused too.
  server::CoordinatorOptions health_only;
  health_only.listen_address = "127.0.0.1:0";
  health_only.health_listen = "0.0.0.0:0";
  EXPECT_THAT(server::Coordinator::Start(health_only),
              testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("refusing to serve --health_listen 0.0.0.0:0")));

  options.allow_insecure = true;
  GDAQD_ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Coordinator> allowed,
                             server::Coordinator::Start(options));
  EXPECT_GT(allowed->port(), 0);
  allowed->Shutdown();
}

}  // namespace
}  // namespace gdaqd
