#include "server/storage/archive_export.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "google/protobuf/io/coded_stream.h"

namespace gdaqd::server::storage {
namespace {

using google::protobuf::io::CodedOutputStream;

// ~200 bytes a row: chunks of ~200 KB.
constexpr size_t kHistoryRowsPerChunk = 1000;

// Wire-format tags of ExportArchiveResponse.elite (field 2) and Elite.params (field 5, the last
// field of Elite), both length-delimited (wire type 2).
constexpr uint8_t kEliteTag = (2 << 3) | 2;
constexpr uint8_t kParamsTag = (5 << 3) | 2;

// The u32 little-endian length prefix of a message.
std::array<char, 4> LengthPrefix(uint64_t length) {
  std::array<char, 4> out;
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out;
}

absl::string_view View(const std::array<char, 4>& bytes) {
  return absl::string_view(bytes.data(), bytes.size());
}

// `tag`, then `value` as a varint, at `out`; returns the end.
uint8_t* TagAndVarint(uint8_t tag, uint64_t value, uint8_t* out) {
  *out++ = tag;
  return CodedOutputStream::WriteVarint64ToArray(value, out);
}

absl::Status WriteMessage(const gdaqd::v1::ExportArchiveResponse& message, std::string* buffer,
                          ByteSink sink) {
  buffer->clear();
  message.AppendToString(buffer);
  GDAQD_RETURN_IF_ERROR(sink(View(LengthPrefix(buffer->size()))));
  return sink(*buffer);
}

// Writes elite `cell` as ExportArchiveResponse{elite: Elite{...}}.SerializeAsString() would:
// protobuf writes fields in field-number order, so the message is the elite tag and length,
// Elite's other fields (serialised by protobuf into *buffer), then the params field, whose
// bytes come straight from the archive. With `skipped` non-null the parameters are not read and
// their byte count is added to *skipped instead (the size pass).
absl::Status WriteElite(const ArchiveInterface& archive, int64_t cell, gdaqd::v1::Elite* elite,
                        std::string* buffer, ByteSink sink, uint64_t* skipped) {
  const std::optional<EliteView> view = archive.elite(cell);
  elite->Clear();
  elite->set_cell(cell);
  elite->set_fitness(view->fitness);
  for (float v : view->descriptor) elite->add_behavior_descriptor(v);
  for (float v : archive.centroid(cell)) elite->add_centroid(v);
  buffer->clear();
  elite->AppendToString(buffer);
  const uint64_t params_bytes = view->params.size() * sizeof(float);
  // proto3 leaves an empty bytes field out.
  const uint64_t params_field =
      params_bytes == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(params_bytes) + params_bytes;
  const uint64_t elite_bytes = buffer->size() + params_field;
  uint8_t header[1 + 10];  // a tag and a varint (at most 10 bytes)
  uint8_t* const elite_end = TagAndVarint(kEliteTag, elite_bytes, header);
  const auto header_bytes = [&header](const uint8_t* end) {
    return absl::string_view(reinterpret_cast<const char*>(header), end - header);
  };
  GDAQD_RETURN_IF_ERROR(sink(View(LengthPrefix((elite_end - header) + elite_bytes))));
  GDAQD_RETURN_IF_ERROR(sink(header_bytes(elite_end)));
  GDAQD_RETURN_IF_ERROR(sink(*buffer));
  if (params_bytes == 0) return absl::OkStatus();
  GDAQD_RETURN_IF_ERROR(sink(header_bytes(TagAndVarint(kParamsTag, params_bytes, header))));
  if (skipped != nullptr) {
    *skipped += params_bytes;
    return absl::OkStatus();
  }
  return sink(absl::string_view(reinterpret_cast<const char*>(view->params.data()), params_bytes));
}

// WriteArchiveExport(), or with `skipped` non-null its size pass (see WriteElite).
absl::Status EncodeExport(const gdaqd::v1::ExperimentStatus& status,
                          absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                          const ArchiveInterface* archive, absl::Span<const int> cells_per_dim,
                          ByteSink sink, uint64_t* skipped) {
  std::string buffer;
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
  }
  GDAQD_RETURN_IF_ERROR(WriteMessage(message, &buffer, sink));
  for (size_t first = 0; first < history.size(); first += kHistoryRowsPerChunk) {
    message.Clear();
    gdaqd::v1::HistoryChunk* chunk = message.mutable_history();
    for (size_t i = first; i < std::min(history.size(), first + kHistoryRowsPerChunk); ++i) {
      *chunk->add_rows() = history[i];
    }
    GDAQD_RETURN_IF_ERROR(WriteMessage(message, &buffer, sink));
  }
  gdaqd::v1::Elite elite;
  for (int64_t cell : cells) {
    GDAQD_RETURN_IF_ERROR(WriteElite(*archive, cell, &elite, &buffer, sink, skipped));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteArchiveExport(const gdaqd::v1::ExperimentStatus& status,
                                absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                                const ArchiveInterface* archive,
                                absl::Span<const int> cells_per_dim, ByteSink sink) {
  return EncodeExport(status, history, archive, cells_per_dim, sink, nullptr);
}

uint64_t ArchiveExportSize(const gdaqd::v1::ExperimentStatus& status,
                           absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                           const ArchiveInterface* archive, absl::Span<const int> cells_per_dim) {
  uint64_t bytes = 0;
  const absl::Status counted = EncodeExport(
      status, history, archive, cells_per_dim,
      [&bytes](absl::string_view piece) {
        bytes += piece.size();
        return absl::OkStatus();
      },
      &bytes);
  assert(counted.ok());  // the counting sink never fails
  (void)counted;
  return bytes;
}

std::string SerializeArchiveExport(const gdaqd::v1::ExperimentStatus& status,
                                   absl::Span<const gdaqd::v1::ProgressSnapshot> history,
                                   const ArchiveInterface* archive,
                                   absl::Span<const int> cells_per_dim) {
  std::string out;
  out.reserve(ArchiveExportSize(status, history, archive, cells_per_dim));
  const absl::Status written =
      WriteArchiveExport(status, history, archive, cells_per_dim, [&out](absl::string_view piece) {
        out.append(piece.data(), piece.size());
        return absl::OkStatus();
      });
  assert(written.ok());  // appending to a string never fails
  (void)written;
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
