#include "common/tls.h"

#include <grpc/grpc_security_constants.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/durable_file.h"

namespace gdaqd::common {
namespace {

// PEM files and token files are small; anything bigger is a wrong path.
constexpr int64_t kMaxCredentialFileBytes = int64_t{1} << 20;

// `status` with "<flag> " in front of its message (which names the path).
absl::Status WithFlag(absl::string_view flag, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(flag, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFileToString(path, kMaxCredentialFileBytes);
  if (!contents.ok()) return WithFlag(flag, contents.status());
  if (absl::StripAsciiWhitespace(*contents).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is empty"));
  }
  if (!absl::StrContains(*contents, "-----BEGIN ") || !absl::StrContains(*contents, "-----END ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", path, " is not a PEM file (no -----BEGIN/-----END block)"));
  }
  return contents;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  constexpr absl::string_view kFlag = "--token_file";
  absl::StatusOr<std::string> contents = ReadFileToString(path, kMaxCredentialFileBytes);
  if (!contents.ok()) return WithFlag(kFlag, contents.status());
  absl::string_view first_line = *contents;
  if (const size_t newline = first_line.find('\n'); newline != absl::string_view::npos) {
    first_line = first_line.substr(0, newline);
  }
  const std::string token(absl::StripAsciiWhitespace(first_line));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kFlag, ": the first line of ", path, " is empty (expected the token)"));
  }
  for (const char c : token) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      // The token itself is never printed.
      return absl::InvalidArgumentError(absl::StrCat(
          kFlag, ": the token in ", path, " holds whitespace or non-printable characters"));
    }
  }
  return token;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  if (!options.enabled()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together: give both or neither");
  }
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadPemFile("--tls_cert", options.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("--tls_key", options.key_file);
  if (!key.ok()) return key.status();
  pair.cert_chain = *std::move(cert);
  pair.private_key = *std::move(key);
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!options.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("--tls_client_ca", options.client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl = grpc::SslServerCredentialsOptions(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = *std::move(ca);
  }
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(ssl);
  if (credentials == nullptr) return absl::InternalError("gRPC cannot make TLS server credentials");
  return credentials;
}

void ClientSecurity::ApplyTo(grpc::ChannelArguments* args) const {
  if (!server_name.empty()) args->SetSslTargetNameOverride(server_name);
}

void ClientSecurity::Authorize(grpc::ClientContext* context) const {
  if (!bearer_token.empty()) context->AddMetadata("authorization", "Bearer " + bearer_token);
}

absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityOptions& options) {
  ClientSecurity security;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
    if (!token.ok()) return token.status();
    security.bearer_token = *std::move(token);
  }
  if (options.ca_file.empty()) {
    if (!options.cert_file.empty() || !options.key_file.empty() || !options.server_name.empty()) {
      return absl::InvalidArgumentError(
          "--tls_cert, --tls_key and --tls_server_name need --tls_ca (which turns TLS on)");
    }
    return security;
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together: give both or neither");
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadPemFile("--tls_ca", options.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *std::move(ca);
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPemFile("--tls_cert", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile("--tls_key", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  security.channel_credentials = grpc::SslCredentials(ssl);
  if (security.channel_credentials == nullptr) {
    return absl::InternalError("gRPC cannot make TLS channel credentials");
  }
  security.server_name = options.server_name;
  return security;
}

}  // namespace gdaqd::common
