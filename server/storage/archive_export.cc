#include "server/storage/archive_export.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace gdaqd::server::storage {
namespace {

// ~200 bytes a row: chunks of ~200 KB.
constexpr size_t kHistoryRowsPerChunk = 1000;

void AppendMessage(const gdaqd::v1::ExportArchiveResponse& message, std::string* out) {
  const std::string bytes = message.SerializeAsString();
  const uint32_t length = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  out->append(bytes);
}

}  // namespace

std::string SerializeArchiveExport(const gdaqd::v1::ExperimentStatus& status,
                                   absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                                   const ArchiveInterface* archive,
                                   absl::Span<const int> cells_per_dim) {
  std::string out;
  gdaqd::v1::ExportArchiveResponse message;
  gdaqd::v1::ArchiveHeader* header = message.mutable_header();
  *header->mutable_status() = status;
  std::vector<int64_t> cells;
  if (archive != nullptr) {
    cells = archive->filled_cells();
    header->set_descriptor_dim(archive->descriptor_dim());
    header->set_num_cells(archive->num_cells());
    header->set_num_params(archive->num_params());
    header->set_num_elites(static_cast<int64_t>(cells.size()));
    for (float v : archive->descriptor_low()) header->add_descriptor_low(v);
    for (float v : archive->descriptor_high()) header->add_descriptor_high(v);
    for (int n : cells_per_dim) header->add_cells_per_dim(n);
    out.reserve(cells.size() * (archive->num_params() * sizeof(float) + 64));
  }
  AppendMessage(message, &out);
  for (size_t first = 0; first < history.size(); first += kHistoryRowsPerChunk) {
    message.Clear();
    gdaqd::v1::HistoryChunk* chunk = message.mutable_history();
    for (size_t i = first; i < std::min(history.size(), first + kHistoryRowsPerChunk); ++i) {
      *chunk->add_rows() = history[i];
    }
    AppendMessage(message, &out);
  }
  for (int64_t cell : cells) {
    message.Clear();
    gdaqd::v1::Elite* elite = message.mutable_elite();
    std::optional<EliteView> view = archive->elite(cell);
    elite->set_cell(cell);
    elite->set_fitness(view->fitness);
    for (float v : view->descriptor) elite->add_behavior_descriptor(v);
    for (float v : archive->centroid(cell)) elite->add_centroid(v);
    elite->set_params(reinterpret_cast<const char*>(view->params.data()),
                      view->params.size() * sizeof(float));
    AppendMessage(message, &out);
  }
  return out;
}

std::unique_ptr<ExportReader> ExportReader::FromBytes(std::string bytes) {
  std::unique_ptr<ExportReader> reader(new ExportReader());
  reader->end_ = bytes.size();
  reader->bytes_ = std::move(bytes);
  return reader;
}

absl::StatusOr<std::unique_ptr<ExportReader>> ExportReader::FromFile(const std::string& path,
                                                                     uint64_t offset,
                                                                     uint64_t length) {
  std::unique_ptr<ExportReader> reader(new ExportReader());
  reader->file_.open(path, std::ios::binary);
  if (!reader->file_) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  reader->file_.seekg(static_cast<std::streamoff>(offset));
  reader->from_file_ = true;
  reader->position_ = 0;
  reader->end_ = length;
  return reader;
}

absl::Status ExportReader::ReadExactly(char* out, uint64_t n) {
  if (end_ - position_ < n) return absl::DataLossError("archive export is truncated");
  if (from_file_) {
    if (!file_.read(out, static_cast<std::streamsize>(n))) {
      return absl::DataLossError("archive export: short read (file changed?)");
    }
  } else {
    std::memcpy(out, bytes_.data() + position_, n);
  }
  position_ += n;
  return absl::OkStatus();
}

absl::StatusOr<bool> ExportReader::Next(gdaqd::v1::ExportArchiveResponse* out) {
  if (position_ == end_) return false;
  unsigned char prefix[4];
  if (absl::Status status = ReadExactly(reinterpret_cast<char*>(prefix), 4); !status.ok()) {
    return status;
  }
  const uint32_t length =
      prefix[0] | (prefix[1] << 8) | (prefix[2] << 16) | (static_cast<uint32_t>(prefix[3]) << 24);
  if (length > static_cast<uint32_t>(common::kMaxGrpcMessageBytes)) {
    return absl::DataLossError(
        absl::StrCat("archive export: a message of ", length, " bytes is over the gRPC limit"));
  }
  buffer_.resize(length);
  if (absl::Status status = ReadExactly(buffer_.data(), length); !status.ok()) return status;
  if (!out->ParseFromString(buffer_)) {
    return absl::DataLossError("archive export: a message does not parse");
  }
  return true;
}

}  // namespace gdaqd::server::storage
