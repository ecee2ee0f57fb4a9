#include "server/service/auth.h"

#include <grpc/grpc_security_constants.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/durable_file.h"
#include "common/logging.h"

namespace gdaqd::server {
namespace {

constexpr size_t kMinTokenChars = 16;
constexpr size_t kMaxTokenChars = 256;
constexpr size_t kMaxNameChars = 64;
constexpr int64_t kMaxTokensFileBytes = int64_t{16} << 20;
constexpr absl::string_view kExpiresPrefix = "expires=";
constexpr absl::string_view kBearerPrefix = "bearer ";  // compared case-insensitively

std::array<uint8_t, 32> Sha256(absl::string_view text) {
  std::array<uint8_t, 32> digest{};
  unsigned int size = 0;
  // EVP_Digest with SHA-256 cannot fail on valid input; a failure leaves the digest zero, which
  // no lookup can match by accident because entries are hashed the same way and checked below.
  CHECK(EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1 &&
        size == digest.size())
      << "SHA-256 failed";
  return digest;
}

std::optional<Role> ParseRole(absl::string_view text) {
  for (Role role : {Role::kWorker, Role::kReader, Role::kSubmitter, Role::kAdmin}) {
    if (text == RoleName(role)) return role;
  }
  return std::nullopt;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameChars) return false;
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '@' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// Parses one non-comment line into `entry`. The message never quotes the token, nor any field
// that could be a misplaced token.
absl::Status ParseLine(absl::string_view line, TokenEntry* entry) {
  const std::vector<absl::string_view> fields =
      absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.size() < 3 || fields.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected '<token> <role> <name> [expires=<RFC 3339 time>]', got ",
                     fields.size(), " fields"));
  }
  const absl::string_view token = fields[0];
  if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars) {
    return absl::InvalidArgumentError(absl::StrCat("the token has ", token.size(), " characters; ",
                                                   kMinTokenChars, "-", kMaxTokenChars,
                                                   " are needed"));
  }
  for (const char c : token) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError("the token holds non-printable characters");
    }
  }
  const std::optional<Role> role = ParseRole(fields[1]);
  if (!role.has_value()) {
    return absl::InvalidArgumentError(
        "the second field is not a role (worker, reader, submitter or admin)");
  }
  if (!ValidName(fields[2])) {
    return absl::InvalidArgumentError("the third field is not a name ([A-Za-z0-9_.@-]{1,64})");
  }
  entry->digest = Sha256(token);
  entry->role = *role;
  entry->name = std::string(fields[2]);
  entry->expires = absl::InfiniteFuture();
  if (fields.size() == 4) {
    std::string error;
    if (!absl::StartsWith(fields[3], kExpiresPrefix) ||
        !absl::ParseTime(absl::RFC3339_full, fields[3].substr(kExpiresPrefix.size()),
                         &entry->expires, &error)) {
      return absl::InvalidArgumentError(
          "the fourth field is not expires=<RFC 3339 time> (e.g. expires=2030-01-01T00:00:00Z)");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kWorker:
      return "worker";
    case Role::kReader:
      return "reader";
    case Role::kSubmitter:
      return "submitter";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::string RoleSet::ToString() const {
  std::vector<absl::string_view> names;
  for (Role role : {Role::kWorker, Role::kReader, Role::kSubmitter, Role::kAdmin}) {
    if (Contains(role)) names.push_back(RoleName(role));
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    absl::StrAppend(&out, names[i]);
  }
  return out;
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, const std::string& path) {
  TokenTable table;
  std::vector<int> line_of;  // line number of each entry
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    TokenEntry entry;
    absl::Status status = ParseLine(line, &entry);
    for (size_t i = 0; status.ok() && i < table.entries_.size(); ++i) {
      if (table.entries_[i].name == entry.name) {
        status = absl::InvalidArgumentError(
            absl::StrCat("the name is already used on line ", line_of[i]));
      } else if (table.entries_[i].digest == entry.digest) {
        status = absl::InvalidArgumentError(
            absl::StrCat("the token is already used on line ", line_of[i]));
      }
    }
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens_file ", path, ":", line_number, ": ", status.message()));
    }
    table.entries_.push_back(std::move(entry));
    line_of.push_back(line_number);
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("tokens_file ", path, ": defines no token"));
  }
  return table;
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  absl::StatusOr<std::string> text = common::ReadFileToString(path, kMaxTokensFileBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("tokens_file: ", text.status().message()));
  }
  return Parse(*text, path);
}

const TokenEntry* TokenTable::Find(absl::string_view token) const {
  const std::array<uint8_t, 32> digest = Sha256(token);
  const TokenEntry* found = nullptr;
  // Every entry is compared, whatever matches, so the time depends only on the table's size.
  for (const TokenEntry& entry : entries_) {
    const bool equal = CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0;
    if (equal) found = &entry;
  }
  return found;
}

absl::StatusOr<Principal> Authorizer::Authenticate(std::optional<absl::string_view> authorization,
                                                   absl::string_view rpc, RoleSet roles,
                                                   absl::Time now) const {
  if (!tokens_.has_value()) return Principal{};
  if (!authorization.has_value() || authorization->size() <= kBearerPrefix.size() ||
      !absl::StartsWithIgnoreCase(*authorization, kBearerPrefix)) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing bearer token: ", rpc,
                     " needs 'authorization: Bearer <token>' metadata (gdaqd and gdaqd-worker "
                     "send it with --token_file)"));
  }
  const absl::string_view token =
      absl::StripAsciiWhitespace(authorization->substr(kBearerPrefix.size()));
  const TokenEntry* entry = tokens_->Find(token);
  if (entry == nullptr) return absl::UnauthenticatedError("unknown token");
  if (now >= entry->expires) {
    return absl::UnauthenticatedError(
        absl::StrCat("token '", entry->name, "' expired at ",
                     absl::FormatTime(absl::RFC3339_sec, entry->expires, absl::UTCTimeZone())));
  }
  if (!roles.Contains(entry->role)) {
    return absl::PermissionDeniedError(absl::StrCat("token '", entry->name, "' has role ",
                                                    RoleName(entry->role), "; ", rpc, " needs ",
                                                    roles.ToString()));
  }
  return Principal{entry->name, entry->role};
}

absl::StatusOr<Principal> Authorizer::Authorize(const grpc::CallbackServerContext& context,
                                                absl::string_view rpc, RoleSet roles) const {
  if (require_tls_) {
    const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    std::vector<grpc::string_ref> types;
    if (auth != nullptr)
      types = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
    const bool over_tls = std::any_of(types.begin(), types.end(),
                                      [](const grpc::string_ref& type) { return type == "ssl"; });
    if (!over_tls) {
      return absl::UnauthenticatedError(
          absl::StrCat(rpc,
                       " arrived over plaintext (the --health_listen port serves only "
                       "grpc.health.v1); use the TLS port"));
    }
  }
  if (!tokens_.has_value()) return Principal{};
  std::optional<absl::string_view> authorization;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  absl::StatusOr<Principal> principal = Authenticate(authorization, rpc, roles, absl::Now());
  if (!principal.ok()) {
    LOG_EVERY_N_SEC(WARNING, 10) << "auth_denied rpc=" << rpc << " peer=" << context.peer() << " "
                                 << principal.status();
  }
  return principal;
}

absl::Status Authorizer::CheckClientCertificate(const grpc::CallbackServerContext& context) const {
  if (!require_client_cert_) return absl::OkStatus();
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // With GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY a presented certificate that does not
  // verify fails the handshake, so a certificate here is a verified one.
  if (auth == nullptr || auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    LOG_EVERY_N_SEC(WARNING, 10) << "auth_denied rpc=Connect peer=" << context.peer()
                                 << " reason=no_client_certificate";
    return absl::UnauthenticatedError(
        "WorkerService.Connect needs a client certificate signed by the server's --tls_client_ca "
        "(mutual TLS): start the worker with --tls_cert and --tls_key");
  }
  return absl::OkStatus();
}

}  // namespace gdaqd::server
