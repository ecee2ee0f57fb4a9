// Who may call what on the coordinator (docs/cluster.md §1): bearer tokens with roles read from
// --tokens_file, and the per-RPC check the service handlers run first.
#ifndef GDAQD_SERVER_SERVICE_AUTH_H_
#define GDAQD_SERVER_SERVICE_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gdaqd::server {

// A token's role. `kAdmin` may do everything.
enum class Role : uint8_t { kWorker = 0, kReader = 1, kSubmitter = 2, kAdmin = 3 };

// "worker", "reader", "submitter", "admin".
absl::string_view RoleName(Role role);

// The roles an RPC accepts. A trivial value type.
class RoleSet {
 public:
  constexpr RoleSet(std::initializer_list<Role> roles) {
    for (Role role : roles) bits_ |= Bit(role);
  }
  constexpr bool Contains(Role role) const { return (bits_ & Bit(role)) != 0; }
  // "submitter or admin", in Role order.
  std::string ToString() const;

 private:
  static constexpr uint8_t Bit(Role role) { return uint8_t{1} << static_cast<uint8_t>(role); }
  uint8_t bits_ = 0;
};

// docs/cluster.md's table. Cancel/Delete of someone else's experiment also needs kAdmin; the
// handler checks the owner (Principal::may_manage()).
inline constexpr RoleSet kConnectRoles = {Role::kWorker, Role::kAdmin};
inline constexpr RoleSet kReadRoles = {Role::kReader, Role::kSubmitter, Role::kAdmin};
inline constexpr RoleSet kSubmitRoles = {Role::kSubmitter, Role::kAdmin};
inline constexpr RoleSet kManageRoles = {Role::kSubmitter, Role::kAdmin};

// One line of the tokens file. The token is kept only as its SHA-256 digest.
struct TokenEntry {
  std::array<uint8_t, 32> digest;  // SHA-256 of the token
  Role role = Role::kReader;
  std::string name;  // [A-Za-z0-9_.@-]{1,64}, unique in the table
  absl::Time expires = absl::InfiniteFuture();
};

// The tokens of --tokens_file. Immutable once parsed; thread-safe for const use.
//
// Format, one per line, `#` comments and blank lines ignored:
//   <token> <role> <name> [expires=<RFC 3339 time>]
// token: 16-256 printable ASCII characters without whitespace; role: worker, reader,
// submitter, admin; name: [A-Za-z0-9_.@-]{1,64}, unique; tokens unique too.
class TokenTable {
 public:
  // Parses `text` read from `path`. InvalidArgument "tokens_file PATH:LINE: ..." for the first
  // malformed line, or if no token is defined. Messages never contain a token.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, const std::string& path);
  // Reads and parses `path`. Errno codes "tokens_file: cannot open PATH..." if unreadable.
  static absl::StatusOr<TokenTable> Load(const std::string& path);

  // The entry whose token is `token`, or null. Compares the SHA-256 digest of `token` with
  // every entry's using CRYPTO_memcmp, so the time taken does not depend on the token's content.
  const TokenEntry* Find(absl::string_view token) const;
  size_t size() const { return entries_.size(); }

 private:
  std::vector<TokenEntry> entries_;
};

// Who is calling. name is empty and role kAdmin when the server runs without tokens.
struct Principal {
  std::string name;
  Role role = Role::kAdmin;

  // Whether this caller may cancel or delete an experiment that `owner` submitted.
  bool may_manage(const std::string& owner) const { return role == Role::kAdmin || owner == name; }
};

// Decides per call. Thread-safe (immutable after construction).
class Authorizer {
 public:
  // `tokens`: nullopt = no tokens (everyone is an anonymous admin). `require_client_cert`:
  // WorkerService.Connect needs a verified client certificate (the server asks for one because
  // --tls_client_ca is set).
  // `require_tls`: calls must arrive over TLS (the server has TLS on); a call on a plaintext
  // connection (the --health_listen port, which serves only grpc.health.v1) is UNAUTHENTICATED.
  Authorizer(std::optional<TokenTable> tokens, bool require_client_cert, bool require_tls = false)
      : tokens_(std::move(tokens)),
        require_client_cert_(require_client_cert),
        require_tls_(require_tls) {}

  bool tokens_enabled() const { return tokens_.has_value(); }

  // The caller of `rpc` (e.g. "SubmitExperiment") as its `authorization` metadata names it.
  // UNAUTHENTICATED if the call came over plaintext while TLS is required, or if the bearer
  // token is missing, unknown or expired; PERMISSION_DENIED if its
  // role is not in `roles`. Messages are one line and never contain the token.
  absl::StatusOr<Principal> Authorize(const grpc::CallbackServerContext& context,
                                      absl::string_view rpc, RoleSet roles) const;
  // The same decision from the raw `authorization` header value (nullopt: none sent) at `now`.
  absl::StatusOr<Principal> Authenticate(std::optional<absl::string_view> authorization,
                                         absl::string_view rpc, RoleSet roles,
                                         absl::Time now) const;
  // For WorkerService.Connect: OK without require_client_cert, else UNAUTHENTICATED unless the
  // peer presented a certificate that the TLS handshake verified against --tls_client_ca.
  absl::Status CheckClientCertificate(const grpc::CallbackServerContext& context) const;

 private:
  const std::optional<TokenTable> tokens_;
  const bool require_client_cert_;
  const bool require_tls_;
};

}  // namespace gdaqd::server

#endif  // GDAQD_SERVER_SERVICE_AUTH_H_
