#include "server/storage/archive_export.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/archive/grid_archive.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::storage {
namespace {

struct Read {
  std::vector<gdaqd::v1::ExportArchiveResponse> messages;
  absl::Status status;
};

Read ReadAll(ExportReader& reader) {
  Read out;
  gdaqd::v1::ExportArchiveResponse message;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&message);
    if (!more.ok()) {
      out.status = more.status();
      return out;
    }
    if (!*more) return out;
    out.messages.push_back(message);
  }
}

std::string Sample(std::vector<float>* params_out = nullptr) {
  auto archive = GridArchive::Create({{0, 0}, {1, 1}, {4, 4}, 3}).value();
  const std::vector<float> params = {1, 2, 3};
  EXPECT_TRUE(archive->Insert(std::vector<float>{0.1f, 0.1f}, 5.0f, params).ok());
  EXPECT_TRUE(archive->Insert(std::vector<float>{0.9f, 0.9f}, 7.0f, params).ok());
  if (params_out != nullptr) *params_out = params;
  gdaqd::v1::ExperimentStatus status;
  status.set_id("exp-3");
  std::vector<gdaqd::v1::ProgressSnapshot> history(2500);
  for (size_t i = 0; i < history.size(); ++i) history[i].set_iteration(static_cast<int64_t>(i) + 1);
  return SerializeArchiveExport(status, history, archive.get(), std::vector<int>{4, 4});
}

TEST(ArchiveExportTest, HeaderThenHistoryChunksThenElitesInCellOrder) {
  Read read = ReadAll(*ExportReader::FromBytes(Sample()));
  GDAQD_ASSERT_OK(read.status);
  ASSERT_EQ(read.messages.size(), 1u + 3u + 2u);  // 2,500 rows in chunks of 1,000
  ASSERT_TRUE(read.messages[0].has_header());
  EXPECT_EQ(read.messages[0].header().status().id(), "exp-3");
  EXPECT_EQ(read.messages[0].header().num_elites(), 2);
  EXPECT_EQ(read.messages[0].header().history_size(), 0);
  int64_t rows = 0;
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(read.messages[i].has_history());
    for (const auto& row : read.messages[i].history().rows()) EXPECT_EQ(row.iteration(), ++rows);
  }
  EXPECT_EQ(rows, 2500);
  EXPECT_EQ(read.messages[4].elite().cell(), 0);
  EXPECT_EQ(read.messages[5].elite().cell(), 15);
  EXPECT_EQ(read.messages[5].elite().fitness(), 7.0f);
}

TEST(ArchiveExportTest, ReadsASectionOfAFile) {
  const std::string bytes = Sample();
  const std::string path = absl::StrCat(::testing::TempDir(), "/export_", getpid());
  GDAQD_ASSERT_OK(common::WriteFileDurably(path, "prefix" + bytes + "suffix"));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto reader, ExportReader::FromFile(path, 6, bytes.size()));
  Read read = ReadAll(*reader);
  GDAQD_ASSERT_OK(read.status);
  EXPECT_EQ(read.messages.size(), 6u);
  std::filesystem::remove(path);
}

TEST(ArchiveExportTest, TruncatedExportIsDataLoss) {
  const std::string bytes = Sample();
  Read read = ReadAll(*ExportReader::FromBytes(bytes.substr(0, bytes.size() - 5)));
  EXPECT_TRUE(absl::IsDataLoss(read.status)) << read.status;
}

}  // namespace
}  // namespace gdaqd::server::storage
