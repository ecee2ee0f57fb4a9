// TLS credentials and bearer tokens for gdaqd's gRPC channels (docs/cluster.md §1): PEM files
// and token files read at start into gRPC credentials, and the `authorization: Bearer` metadata
// that clients attach to every call.
#ifndef GDAQD_COMMON_TLS_H_
#define GDAQD_COMMON_TLS_H_

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdaqd::common {

// Reads a PEM file given by command-line flag `flag` (e.g. "--tls_cert"). Errors name the flag
// and the path: NotFound / PermissionDenied / Internal (errno) if it cannot be read,
// InvalidArgument if it is empty or holds no "-----BEGIN ...-----" block.
absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path);

// Reads a bearer token file (`--token_file`): its first line with surrounding whitespace
// trimmed. Errors name the flag and the path but never the file's content: errno codes if it
// cannot be read, InvalidArgument if the first line is empty or holds whitespace or
// non-printable characters.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// The server's TLS files (paths; all empty = plaintext).
struct ServerTlsOptions {
  std::string cert_file;       // --tls_cert: certificate chain
  std::string key_file;        // --tls_key: private key
  std::string client_ca_file;  // --tls_client_ca: CA that signs worker client certificates

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Server credentials: insecure when `options` has no cert and no key, else TLS from the PEM
// files; with a client CA, peers are asked for a certificate that is verified when presented
// (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY). InvalidArgument if only one of cert/key is
// set or a client CA is given without them; ReadPemFile()'s errors otherwise.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

// What a client or worker needs to reach a secured coordinator (paths; empty = unused).
struct ClientSecurityOptions {
  std::string ca_file;      // --tls_ca: trust anchor; set = TLS on
  std::string cert_file;    // --tls_cert: client certificate (mutual TLS, workers)
  std::string key_file;     // --tls_key
  std::string server_name;  // --tls_server_name: name checked in the server's certificate
  std::string token_file;   // --token_file
};

// Loaded client credentials. A plain value; thread-compatible (const use is thread-safe).
struct ClientSecurity {
  // Never null once loaded: SSL credentials or insecure ones.
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials =
      grpc::InsecureChannelCredentials();
  std::string server_name;   // empty: the host part of the target address
  std::string bearer_token;  // empty: no authorization metadata

  // Sets the TLS target name override on `args` when server_name is set.
  void ApplyTo(grpc::ChannelArguments* args) const;
  // Adds "authorization: Bearer <token>" to `context` when a token is set. Per call, not a
  // call-credentials plugin, so that it works on plaintext loopback channels too.
  void Authorize(grpc::ClientContext* context) const;
};

// Reads the files named in `options`. InvalidArgument if cert/key/server_name are given without
// --tls_ca or only one of cert/key is given; ReadPemFile() and ReadTokenFile() errors otherwise.
absl::StatusOr<ClientSecurity> LoadClientSecurity(const ClientSecurityOptions& options);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_TLS_H_
