#include "server/storage/archive_export.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
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

// The export as it was built before WriteArchiveExport (whole protobuf messages, serialised
// one by one): the bytes every existing checkpoint holds, which must not change.
std::string ReferenceExport(const gdaqd::v1::ExperimentStatus& status,
                            const std::vector<gdaqd::v1::ProgressSnapshot>& history,
                            const ArchiveInterface& archive, const std::vector<int>& shape) {
  std::string out;
  auto append = [&out](const gdaqd::v1::ExportArchiveResponse& message) {
    const std::string bytes = message.SerializeAsString();
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bytes.size() >> (8 * i)) & 0xff));
    out.append(bytes);
  };
  gdaqd::v1::ExportArchiveResponse message;
  gdaqd::v1::ArchiveHeader* header = message.mutable_header();
  *header->mutable_status() = status;
  const std::vector<int64_t> cells = archive.filled_cells();
  header->set_descriptor_dim(archive.descriptor_dim());
  header->set_num_cells(archive.num_cells());
  header->set_num_params(archive.num_params());
  header->set_num_elites(static_cast<int64_t>(cells.size()));
  for (float v : archive.descriptor_low()) header->add_descriptor_low(v);
  for (float v : archive.descriptor_high()) header->add_descriptor_high(v);
  for (int n : shape) header->add_cells_per_dim(n);
  append(message);
  for (size_t first = 0; first < history.size(); first += 1000) {
    message.Clear();
    for (size_t i = first; i < std::min(history.size(), first + 1000); ++i) {
      *message.mutable_history()->add_rows() = history[i];
    }
    append(message);
  }
  for (int64_t cell : cells) {
    message.Clear();
    gdaqd::v1::Elite* elite = message.mutable_elite();
    std::optional<EliteView> view = archive.elite(cell);
    elite->set_cell(cell);
    elite->set_fitness(view->fitness);
    for (float v : view->descriptor) elite->add_behavior_descriptor(v);
    for (float v : archive.centroid(cell)) elite->add_centroid(v);
    elite->set_params(reinterpret_cast<const char*>(view->params.data()),
                      view->params.size() * sizeof(float));
    append(message);
  }
  return out;
}

// Policy-size parameters (a 3-byte params length), a cell-0 elite with fitness 0 (fields that
// proto3 leaves out), negative fitness, and an empty history.
TEST(ArchiveExportTest, BytesAreThoseOfWholeSerialisedMessages) {
  for (int num_params : {1, 3, 4482, 40000}) {
    auto archive = GridArchive::Create({{0, 0}, {1, 1}, {8, 8}, num_params}).value();
    std::vector<float> params(num_params);
    for (int i = 0; i < num_params; ++i) params[i] = 0.25f * i - 3.0f;
    GDAQD_ASSERT_OK(archive->Insert(std::vector<float>{0.01f, 0.01f}, 0.0f, params).status());
    GDAQD_ASSERT_OK(archive->Insert(std::vector<float>{0.5f, 0.3f}, -2.5f, params).status());
    GDAQD_ASSERT_OK(archive->Insert(std::vector<float>{0.99f, 0.99f}, 1e6f, params).status());
    gdaqd::v1::ExperimentStatus status;
    status.set_id("exp-12");
    for (const std::vector<gdaqd::v1::ProgressSnapshot>& history :
         {std::vector<gdaqd::v1::ProgressSnapshot>{},
          std::vector<gdaqd::v1::ProgressSnapshot>(1001)}) {
      const std::string expected = ReferenceExport(status, history, *archive, {8, 8});
      const std::string actual = SerializeArchiveExport(status, history, archive.get(), {8, 8});
      EXPECT_TRUE(actual == expected) << num_params << " params, " << history.size() << " rows";
      EXPECT_EQ(ArchiveExportSize(status, history, archive.get(), {8, 8}), expected.size());
    }
  }
}

TEST(ArchiveExportTest, ExportWithoutArchiveIsTheHeaderAlone) {
  gdaqd::v1::ExperimentStatus status;
  status.set_id("exp-1");
  const std::string bytes = SerializeArchiveExport(status, {}, nullptr, {});
  EXPECT_EQ(ArchiveExportSize(status, {}, nullptr, {}), bytes.size());
  Read read = ReadAll(*ExportReader::FromBytes(bytes));
  GDAQD_ASSERT_OK(read.status);
  ASSERT_EQ(read.messages.size(), 1u);
  EXPECT_EQ(read.messages[0].header().status().id(), "exp-1");
}

TEST(ArchiveExportTest, SinkErrorStopsTheWrite) {
  auto archive = GridArchive::Create({{0, 0}, {1, 1}, {4, 4}, 3}).value();
  GDAQD_ASSERT_OK(archive->Insert(std::vector<float>{0.1f, 0.1f}, 1.0f, {1, 2, 3}).status());
  int pieces = 0;
  const absl::Status status = WriteArchiveExport(
      gdaqd::v1::ExperimentStatus(), {}, archive.get(), {4, 4}, [&pieces](absl::string_view) {
        return ++pieces == 3 ? absl::UnavailableError("disk gone") : absl::OkStatus();
      });
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_EQ(pieces, 3);
}

}  // namespace
}  // namespace gdaqd::server::storage
