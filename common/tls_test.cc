#include "common/tls.h"

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace gdaqd::common {
namespace {

using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::gdaqd::testing::FreshTempDir("tls_" + name) + "/" + name;
  std::ofstream(path) << contents;
  return path;
}

TEST(ReadPemFileTest, ReturnsThePemText) {
  const std::string path = WriteFile("good.pem", kPem);
  EXPECT_THAT(ReadPemFile("--tls_ca", path), IsOkAndHolds(std::string(kPem)));
}

TEST(ReadPemFileTest, MissingFileNamesTheFlagAndThePath) {
  EXPECT_THAT(ReadPemFile("--tls_cert", "/nonexistent/cert.pem"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("--tls_cert"), HasSubstr("/nonexistent/cert.pem"))));
}

TEST(ReadPemFileTest, EmptyFileIsInvalid) {
  const std::string path = WriteFile("empty.pem", " \n");
  EXPECT_THAT(ReadPemFile("--tls_key", path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--tls_key"), HasSubstr(path), HasSubstr("empty"))));
}

TEST(ReadPemFileTest, NonPemFileIsInvalid) {
  const std::string path = WriteFile("der.pem", "0\x82\x01\x0a binary");
  EXPECT_THAT(ReadPemFile("--tls_client_ca", path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("--tls_client_ca"), HasSubstr("not a PEM file"))));
}

TEST(ReadTokenFileTest, TakesTheFirstLineTrimmed) {
  const std::string path = WriteFile("token", "  s3cret-token-0123456789 \t\nsecond line\n");
  EXPECT_THAT(ReadTokenFile(path), IsOkAndHolds(std::string("s3cret-token-0123456789")));
}

TEST(ReadTokenFileTest, EmptyFirstLineIsInvalid) {
  const std::string path = WriteFile("token", "\nabcdefabcdefabcdef\n");
  EXPECT_THAT(ReadTokenFile(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                            AllOf(HasSubstr("--token_file"), HasSubstr(path))));
}

TEST(ReadTokenFileTest, WhitespaceInsideIsInvalidAndNotEchoed) {
  const std::string path = WriteFile("token", "secret-part-one secret-part-two\n");
  EXPECT_THAT(ReadTokenFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("whitespace"), Not(HasSubstr("secret-part")))));
}

TEST(ReadTokenFileTest, MissingFileNamesTheFlag) {
  EXPECT_THAT(ReadTokenFile("/nonexistent/token"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("--token_file")));
}

TEST(MakeServerCredentialsTest, NoFilesMeansPlaintext) {
  GDAQD_EXPECT_OK(MakeServerCredentials(ServerTlsOptions{}));
}

TEST(MakeServerCredentialsTest, CertWithoutKeyIsInvalid) {
  ServerTlsOptions options;
  options.cert_file = WriteFile("cert.pem", kPem);
  EXPECT_THAT(MakeServerCredentials(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_key")));
}

TEST(MakeServerCredentialsTest, ClientCaWithoutCertIsInvalid) {
  ServerTlsOptions options;
  options.client_ca_file = WriteFile("ca.pem", kPem);
  EXPECT_THAT(MakeServerCredentials(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_client_ca")));
}

TEST(MakeServerCredentialsTest, UnreadableKeyNamesItsFlag) {
  ServerTlsOptions options;
  options.cert_file = WriteFile("cert.pem", kPem);
  options.key_file = "/nonexistent/key.pem";
  EXPECT_THAT(MakeServerCredentials(options),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("--tls_key")));
}

TEST(LoadClientSecurityTest, NothingGivenIsPlaintextWithoutToken) {
  GDAQD_ASSERT_OK_AND_ASSIGN(ClientSecurity security, LoadClientSecurity({}));
  EXPECT_NE(security.channel_credentials, nullptr);
  EXPECT_TRUE(security.bearer_token.empty());
  EXPECT_TRUE(security.server_name.empty());
}

TEST(LoadClientSecurityTest, ReadsTheTokenAndTheServerName) {
  ClientSecurityOptions options;
  options.ca_file = WriteFile("ca.pem", kPem);
  options.server_name = "coordinator.example";
  options.token_file = WriteFile("token", "abcdefghijklmnopqrstuvwxyz\n");
  GDAQD_ASSERT_OK_AND_ASSIGN(ClientSecurity security, LoadClientSecurity(options));
  EXPECT_EQ(security.bearer_token, "abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(security.server_name, "coordinator.example");
}

TEST(LoadClientSecurityTest, ClientCertWithoutCaIsInvalid) {
  ClientSecurityOptions options;
  options.cert_file = WriteFile("cert.pem", kPem);
  options.key_file = WriteFile("key.pem", kPem);
  EXPECT_THAT(LoadClientSecurity(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_ca")));
}

TEST(LoadClientSecurityTest, CertWithoutKeyIsInvalid) {
  ClientSecurityOptions options;
  options.ca_file = WriteFile("ca.pem", kPem);
  options.cert_file = WriteFile("cert.pem", kPem);
  EXPECT_THAT(LoadClientSecurity(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--tls_key")));
}

}  // namespace
}  // namespace gdaqd::common
