#include "server/service/auth.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kWorkerToken[] = "worker-token-0123456789";
constexpr char kReaderToken[] = "reader-token-0123456789";
constexpr char kSubmitterToken[] = "submitter-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kExpiredToken[] = "expired-token-0123456789";

constexpr char kTable[] = R"(# role table
worker-token-0123456789 worker w1

reader-token-0123456789   reader  alice
submitter-token-0123456789 submitter bob@lab expires=2100-01-01T00:00:00Z
admin-token-0123456789 admin root
expired-token-0123456789 submitter carol expires=2020-01-01T00:00:00Z
)";

absl::StatusCode ParseCode(const std::string& text) {
  return TokenTable::Parse(text, "t.txt").status().code();
}

TEST(TokenTableTest, ParsesEveryRoleAndSkipsCommentsAndBlankLines) {
  GDAQD_ASSERT_OK_AND_ASSIGN(TokenTable table, TokenTable::Parse(kTable, "t.txt"));
  EXPECT_EQ(table.size(), 5u);
  ASSERT_NE(table.Find(kSubmitterToken), nullptr);
  EXPECT_EQ(table.Find(kSubmitterToken)->name, "bob@lab");
  EXPECT_EQ(table.Find(kSubmitterToken)->role, Role::kSubmitter);
  EXPECT_EQ(table.Find(kWorkerToken)->role, Role::kWorker);
  EXPECT_EQ(table.Find(kAdminToken)->expires, absl::InfiniteFuture());
  EXPECT_EQ(table.Find("not-a-token-at-all-0000"), nullptr);
  EXPECT_EQ(table.Find(""), nullptr);
}

TEST(TokenTableTest, MalformedLineNamesPathAndLineButNotTheToken) {
  const std::string text = "# c\nsecret-token-abcdefgh reeder alice\n";
  EXPECT_THAT(TokenTable::Parse(text, "/etc/gdaqd/tokens"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokens_file /etc/gdaqd/tokens:2: "), HasSubstr("role"),
                             Not(HasSubstr("secret-token")))));
}

TEST(TokenTableTest, RejectsBadFields) {
  EXPECT_EQ(ParseCode("short reader alice\n"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode(std::string(257, 'x') + " reader alice\n"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader\n"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader al/ice\n"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader " + std::string(65, 'a') + "\n"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader alice expires=tomorrow\n"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader alice x=2030-01-01T00:00:00Z\n"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("abcdefghijklmnop reader alice expires=2030-01-01T00:00:00Z extra\n"),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseCode("# only comments\n\n"), absl::StatusCode::kInvalidArgument);
}

TEST(TokenTableTest, RejectsDuplicateNamesAndTokens) {
  EXPECT_THAT(
      TokenTable::Parse("abcdefghijklmnop reader alice\nqrstuvwxyz012345 admin alice\n", "t"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("t:2:"), HasSubstr("name"), HasSubstr("line 1"))));
  EXPECT_THAT(TokenTable::Parse("abcdefghijklmnop reader alice\nabcdefghijklmnop admin bob\n", "t"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("t:2:"), HasSubstr("token is already used on line 1"),
                             Not(HasSubstr("abcdefghijklmnop")))));
}

TEST(TokenTableTest, LoadNamesTheMissingFile) {
  EXPECT_THAT(TokenTable::Load("/nonexistent/tokens"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("tokens_file"), HasSubstr("/nonexistent/tokens"))));
}

TEST(RoleSetTest, NamesItsRolesInOrder) {
  EXPECT_EQ(kSubmitRoles.ToString(), "submitter or admin");
  EXPECT_EQ(kReadRoles.ToString(), "reader, submitter or admin");
  EXPECT_EQ(kConnectRoles.ToString(), "worker or admin");
  EXPECT_EQ(RoleSet({Role::kAdmin}).ToString(), "admin");
}

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest() : authorizer_(*TokenTable::Parse(kTable, "t.txt"), false) {}

  absl::StatusOr<Principal> Call(std::optional<std::string> header, RoleSet roles) {
    std::optional<absl::string_view> view;
    if (header.has_value()) view = *header;
    return authorizer_.Authenticate(view, "SubmitExperiment", roles, now_);
  }

  const absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);  // 2027
  Authorizer authorizer_;
};

TEST_F(AuthorizerTest, RightTokenAndRoleGivesThePrincipal) {
  GDAQD_ASSERT_OK_AND_ASSIGN(Principal p,
                             Call(std::string("Bearer ") + kSubmitterToken, kSubmitRoles));
  EXPECT_EQ(p.name, "bob@lab");
  EXPECT_EQ(p.role, Role::kSubmitter);
  // The scheme is case-insensitive (RFC 7235).
  GDAQD_EXPECT_OK(Call(std::string("bearer ") + kAdminToken, kSubmitRoles));
}

TEST_F(AuthorizerTest, MissingTokenIsUnauthenticated) {
  EXPECT_THAT(Call(std::nullopt, kSubmitRoles),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing bearer token")));
  EXPECT_THAT(Call(std::string("Basic dXNlcjpwYXNz"), kSubmitRoles),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing bearer token")));
  EXPECT_THAT(Call(std::string("Bearer "), kSubmitRoles),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("missing bearer token")));
}

TEST_F(AuthorizerTest, UnknownTokenIsUnauthenticatedAndNotEchoed) {
  EXPECT_THAT(Call(std::string("Bearer guessed-token-0000000000"), kReadRoles),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("unknown token"), Not(HasSubstr("guessed")))));
}

TEST_F(AuthorizerTest, ExpiredTokenSaysWhen) {
  EXPECT_THAT(Call(std::string("Bearer ") + kExpiredToken, kReadRoles),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("token 'carol' expired at 2020-01-01T00:00:00")));
}

TEST_F(AuthorizerTest, WrongRoleIsPermissionDenied) {
  EXPECT_THAT(Call(std::string("Bearer ") + kReaderToken, kSubmitRoles),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "token 'alice' has role reader; SubmitExperiment needs submitter or admin"));
  EXPECT_THAT(Call(std::string("Bearer ") + kWorkerToken, kSubmitRoles),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("has role worker")));
}

TEST(AuthorizerNoTokensTest, EveryoneIsAnAnonymousAdmin) {
  Authorizer open(std::nullopt, false);
  GDAQD_ASSERT_OK_AND_ASSIGN(
      Principal p, open.Authenticate(std::nullopt, "DeleteExperiment", kManageRoles, absl::Now()));
  EXPECT_EQ(p.name, "");
  EXPECT_EQ(p.role, Role::kAdmin);
}

TEST(PrincipalTest, OnlyOwnersAndAdminsManage) {
  EXPECT_TRUE((Principal{"bob", Role::kSubmitter}).may_manage("bob"));
  EXPECT_FALSE((Principal{"bob", Role::kSubmitter}).may_manage("carol"));
  EXPECT_FALSE((Principal{"bob", Role::kSubmitter}).may_manage(""));
  EXPECT_TRUE((Principal{"root", Role::kAdmin}).may_manage("carol"));
}

}  // namespace
}  // namespace gdaqd::server
