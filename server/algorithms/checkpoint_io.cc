#include "server/algorithms/checkpoint_io.h"

#include <cstring>
#include <istream>
#include <ostream>
#include <sstream>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gdaqd::server::checkpoint {
namespace {

absl::Status Truncated(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("checkpoint truncated while reading ", what));
}

void WriteFloats(std::ostream& out, absl::Span<const float> values) {
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
}

absl::Status ReadFloats(std::istream& in, absl::string_view what, std::vector<float>* values) {
  in.read(reinterpret_cast<char*>(values->data()),
          static_cast<std::streamsize>(values->size() * sizeof(float)));
  return in ? absl::OkStatus() : Truncated(what);
}

}  // namespace

void WriteU64(std::ostream& out, uint64_t value) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  out.write(reinterpret_cast<const char*>(bytes), 8);
}

void WriteF64(std::ostream& out, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  WriteU64(out, bits);
}

void WriteBytes(std::ostream& out, absl::string_view bytes) {
  WriteU64(out, bytes.size());
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void WriteRng(std::ostream& out, const std::mt19937_64& rng) {
  std::ostringstream text;
  text << rng;
  WriteBytes(out, text.str());
}

void WriteArchive(std::ostream& out, const ArchiveInterface& archive) {
  const std::vector<int64_t> cells = archive.filled_cells();
  WriteU64(out, cells.size());
  for (int64_t cell : cells) {
    const EliteView elite = *archive.elite(cell);
    WriteU64(out, static_cast<uint64_t>(cell));
    WriteF64(out, elite.fitness);
    WriteFloats(out, elite.descriptor);
    WriteFloats(out, elite.params);
  }
}

absl::StatusOr<uint64_t> ReadU64(std::istream& in, absl::string_view what) {
  unsigned char bytes[8];
  if (!in.read(reinterpret_cast<char*>(bytes), 8)) return Truncated(what);
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

absl::StatusOr<double> ReadF64(std::istream& in, absl::string_view what) {
  absl::StatusOr<uint64_t> bits = ReadU64(in, what);
  if (!bits.ok()) return bits.status();
  double value;
  std::memcpy(&value, &*bits, sizeof(value));
  return value;
}

absl::StatusOr<std::string> ReadBytes(std::istream& in, absl::string_view what,
                                      uint64_t max_bytes) {
  absl::StatusOr<uint64_t> size = ReadU64(in, what);
  if (!size.ok()) return size.status();
  if (*size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint: ", what, " claims ", *size, " bytes, at most ", max_bytes));
  }
  std::string bytes(*size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(*size))) return Truncated(what);
  return bytes;
}

absl::Status ReadRng(std::istream& in, absl::string_view what, std::mt19937_64* rng) {
  absl::StatusOr<std::string> text = ReadBytes(in, what, 1 << 16);
  if (!text.ok()) return text.status();
  std::istringstream parse(*text);
  std::mt19937_64 value;
  if (!(parse >> value)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: ", what, " is not an RNG state"));
  }
  *rng = value;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ArchiveInterface>> ReadArchive(std::istream& in,
                                                              const ArchiveInterface& shape) {
  std::unique_ptr<ArchiveInterface> archive = shape.Clone();
  archive->Clear();
  absl::StatusOr<uint64_t> count = ReadU64(in, "archive size");
  if (!count.ok()) return count.status();
  if (*count > static_cast<uint64_t>(archive->num_cells())) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: archive has ", *count,
                                                   " elites for ", archive->num_cells(), " cells"));
  }
  std::vector<float> descriptor(archive->descriptor_dim()), params(archive->num_params());
  for (uint64_t i = 0; i < *count; ++i) {
    absl::StatusOr<uint64_t> cell = ReadU64(in, "elite cell");
    if (!cell.ok()) return cell.status();
    absl::StatusOr<double> fitness = ReadF64(in, "elite fitness");
    if (!fitness.ok()) return fitness.status();
    if (absl::Status s = ReadFloats(in, "elite descriptor", &descriptor); !s.ok()) return s;
    if (absl::Status s = ReadFloats(in, "elite params", &params); !s.ok()) return s;
    absl::StatusOr<InsertOutcome> inserted =
        archive->Insert(descriptor, static_cast<float>(*fitness), params);
    if (!inserted.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: elite ", i, ": ", inserted.status().message()));
    }
    if (inserted->status != InsertStatus::kNew || inserted->cell != static_cast<int64_t>(*cell)) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint: elite ", i, " of cell ", *cell,
                                                     " does not belong to this archive"));
    }
  }
  return archive;
}

absl::Status WriteReplayBuffer(std::ostream& out, const models::ReplayBuffer& buffer) {
  std::ostringstream bytes;
  if (absl::Status s = buffer.Save(bytes); !s.ok()) return s;
  WriteBytes(out, bytes.str());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<models::ReplayBuffer>> ReadReplayBuffer(std::istream& in,
                                                                       int row_size) {
  absl::StatusOr<std::string> bytes = ReadBytes(in, "replay buffer", uint64_t{1} << 36);
  if (!bytes.ok()) return bytes.status();
  std::istringstream block(*bytes);
  absl::StatusOr<std::unique_ptr<models::ReplayBuffer>> buffer = models::ReplayBuffer::Load(block);
  if (!buffer.ok()) return buffer.status();
  if ((*buffer)->row_size() != row_size) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: replay buffer rows have ",
                                                   (*buffer)->row_size(), " floats, this task ",
                                                   row_size));
  }
  return buffer;
}

absl::Status ExpectMagic(std::istream& in, absl::string_view magic) {
  std::string got(magic.size(), '\0');
  if (!in.read(got.data(), static_cast<std::streamsize>(got.size())) || got != magic) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a ", magic, " checkpoint (starts with '", absl::CHexEscape(got), "')"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ReadMagicVersion(std::istream& in, absl::string_view prefix, int oldest,
                                     int newest) {
  std::string got(prefix.size() + 1, '\0');
  const bool read =
      static_cast<bool>(in.read(got.data(), static_cast<std::streamsize>(got.size())));
  const int version = got.back() - '0';
  if (!read || absl::string_view(got).substr(0, prefix.size()) != prefix || version < oldest ||
      version > newest) {
    return absl::InvalidArgumentError(absl::StrCat("not a ", prefix, oldest, "..", prefix, newest,
                                                   " checkpoint (starts with '",
                                                   absl::CHexEscape(got), "')"));
  }
  return version;
}

void WriteProvenance(std::ostream& out, const std::vector<models::Provenance>& provenance) {
  std::string bytes(provenance.size(), '\0');
  for (size_t i = 0; i < provenance.size(); ++i) bytes[i] = static_cast<char>(provenance[i]);
  WriteBytes(out, bytes);
}

absl::StatusOr<std::vector<models::Provenance>> ReadProvenance(std::istream& in,
                                                               uint64_t max_count) {
  GDAQD_ASSIGN_OR_RETURN(std::string bytes, ReadBytes(in, "batch provenance", max_count));
  std::vector<models::Provenance> out(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto label = static_cast<uint8_t>(bytes[i]);
    if (label >= models::kNumProvenances) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: batch provenance ", i, " is ", label, ", not a label"));
    }
    out[i] = static_cast<models::Provenance>(label);
  }
  return out;
}

}  // namespace gdaqd::server::checkpoint
