#include "server/storage/checkpoint_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/durable_file.h"
#include "common/status_macros.h"

namespace gdaqd::server::storage {
namespace {

constexpr size_t kMagicBytes = 8;
constexpr size_t kHeaderBytes = kMagicBytes + 4 + 8;
constexpr size_t kSectionHeaderBytes = 4 + 8;
constexpr size_t kBlockBytes = 1 << 20;

template <typename T>
std::string LittleEndian(T value) {
  std::string out(sizeof(T), '\0');
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

template <typename T>
T FromLittleEndian(const char* bytes) {
  T value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    value |= static_cast<T>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return value;
}

uint32_t Crc(uint32_t crc, absl::string_view bytes) {
  // zlib's crc32 takes uInt lengths; feed it in blocks.
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kBlockBytes);
    crc = static_cast<uint32_t>(
        crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(n)));
    bytes.remove_prefix(n);
  }
  return crc;
}

absl::Status Corrupt(const std::string& path, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat("checkpoint ", path, " is damaged: ", problem));
}

// Writes a payload of known size to the file in blocks of kBlockBytes, accumulating its CRC, and
// calls the hook once exactly the first half of it is on disk. Small pieces are gathered into
// one block (one write() per MiB, not per piece); large ones are written straight from the
// caller's memory.
class PayloadWriter {
 public:
  PayloadWriter(common::DurableFileWriter* file, uint64_t payload_bytes, const MidWriteHook& hook)
      : file_(file), half_(payload_bytes / 2), hook_(hook), hooked_(hook == nullptr) {
    buffer_.reserve(kBlockBytes);
  }

  absl::Status Append(absl::string_view bytes) {
    while (!bytes.empty()) {
      GDAQD_RETURN_IF_ERROR(MaybeCallHook());
      if (buffer_.empty() && hooked_ && bytes.size() >= kBlockBytes) {
        GDAQD_RETURN_IF_ERROR(Write(bytes.substr(0, kBlockBytes)));
        bytes.remove_prefix(kBlockBytes);
        continue;
      }
      size_t room = kBlockBytes - buffer_.size();
      if (!hooked_) room = static_cast<size_t>(std::min<uint64_t>(room, half_ - position()));
      const size_t n = std::min(room, bytes.size());
      buffer_.append(bytes.data(), n);
      bytes.remove_prefix(n);
      if (buffer_.size() == kBlockBytes) GDAQD_RETURN_IF_ERROR(Flush());
    }
    return absl::OkStatus();
  }

  // Writes what is buffered; the CRC covers everything appended.
  absl::Status Finish() {
    GDAQD_RETURN_IF_ERROR(MaybeCallHook());
    return Flush();
  }

  uint32_t crc() const { return crc_; }
  uint64_t position() const { return written_ + buffer_.size(); }

 private:
  absl::Status MaybeCallHook() {
    if (hooked_ || position() < half_) return absl::OkStatus();
    GDAQD_RETURN_IF_ERROR(Flush());
    hooked_ = true;
    hook_(file_->tmp_path());
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    GDAQD_RETURN_IF_ERROR(Write(buffer_));
    buffer_.clear();
    return absl::OkStatus();
  }

  absl::Status Write(absl::string_view block) {
    crc_ = Crc(crc_, block);
    GDAQD_RETURN_IF_ERROR(file_->Append(block));
    written_ += block.size();
    return absl::OkStatus();
  }

  common::DurableFileWriter* file_;
  const uint64_t half_;
  const MidWriteHook& hook_;
  bool hooked_;
  uint32_t crc_ = static_cast<uint32_t>(crc32(0, nullptr, 0));
  uint64_t written_ = 0;  // bytes of payload on disk
  std::string buffer_;    // the next block, not yet written
};

absl::Status WriteSection(const Section& section, PayloadWriter& payload) {
  const uint64_t length = section.writer != nullptr ? section.length : section.bytes.size();
  GDAQD_RETURN_IF_ERROR(
      payload.Append(absl::StrCat(LittleEndian(section.tag), LittleEndian<uint64_t>(length))));
  if (section.writer == nullptr) return payload.Append(section.bytes);
  const uint64_t start = payload.position();
  GDAQD_RETURN_IF_ERROR(
      section.writer([&payload](absl::string_view piece) { return payload.Append(piece); }));
  if (payload.position() - start != length) {
    return absl::InternalError(absl::StrCat("checkpoint section ", section.tag, " wrote ",
                                            payload.position() - start, " bytes, declared ",
                                            length));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const std::vector<Section>& sections,
                                 const MidWriteHook& hook) {
  uint64_t payload_bytes = 0;
  for (const Section& section : sections) {
    payload_bytes +=
        kSectionHeaderBytes + (section.writer != nullptr ? section.length : section.bytes.size());
  }
  absl::StatusOr<common::DurableFileWriter> writer = common::DurableFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  const std::string header =
      absl::StrCat(absl::string_view(kCheckpointMagic, kMagicBytes),
                   LittleEndian(kCheckpointFormatVersion), LittleEndian(payload_bytes));
  GDAQD_RETURN_IF_ERROR(writer->Append(header));
  PayloadWriter payload(&*writer, payload_bytes, hook);
  for (const Section& section : sections) {
    GDAQD_RETURN_IF_ERROR(WriteSection(section, payload));
  }
  GDAQD_RETURN_IF_ERROR(payload.Finish());
  GDAQD_RETURN_IF_ERROR(writer->Append(LittleEndian(payload.crc())));
  return writer->Commit();
}

absl::StatusOr<std::map<uint32_t, SectionLocation>> VerifyCheckpointFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::ErrnoError(errno, "cannot open", path);
  in.seekg(0, std::ios::end);
  const uint64_t file_bytes = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  char header[kHeaderBytes];
  if (file_bytes < kHeaderBytes + 4 || !in.read(header, kHeaderBytes)) {
    return Corrupt(path, absl::StrCat("truncated: ", file_bytes, " bytes, shorter than a header"));
  }
  if (std::memcmp(header, kCheckpointMagic, kMagicBytes) != 0) {
    return Corrupt(path, "bad magic (not a gdaqd checkpoint)");
  }
  const uint32_t version = FromLittleEndian<uint32_t>(header + kMagicBytes);
  if (version != kCheckpointFormatVersion) {
    return Corrupt(path, absl::StrCat("format version ", version, ", this server reads ",
                                      kCheckpointFormatVersion));
  }
  const uint64_t payload_bytes = FromLittleEndian<uint64_t>(header + kMagicBytes + 4);
  if (payload_bytes != file_bytes - kHeaderBytes - 4) {
    return Corrupt(path, absl::StrCat("truncated: header says ", payload_bytes,
                                      " payload bytes, file has ", file_bytes - kHeaderBytes - 4));
  }
  // Pass 1: the CRC over the whole payload, before trusting any length inside it.
  uint32_t crc = static_cast<uint32_t>(crc32(0, nullptr, 0));
  std::string block(kBlockBytes, '\0');
  for (uint64_t left = payload_bytes; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kBlockBytes));
    if (!in.read(block.data(), static_cast<std::streamsize>(n))) return Corrupt(path, "short read");
    crc = Crc(crc, absl::string_view(block.data(), n));
    left -= n;
  }
  char stored[4];
  if (!in.read(stored, 4)) return Corrupt(path, "short read of the CRC");
  if (FromLittleEndian<uint32_t>(stored) != crc) return Corrupt(path, "CRC mismatch");
  // Pass 2: the section table.
  std::map<uint32_t, SectionLocation> sections;
  uint64_t offset = kHeaderBytes;
  const uint64_t end = kHeaderBytes + payload_bytes;
  while (offset < end) {
    char section_header[kSectionHeaderBytes];
    in.seekg(static_cast<std::streamoff>(offset));
    if (end - offset < kSectionHeaderBytes || !in.read(section_header, kSectionHeaderBytes)) {
      return Corrupt(path, "section header runs past the payload");
    }
    const uint32_t tag = FromLittleEndian<uint32_t>(section_header);
    const uint64_t length = FromLittleEndian<uint64_t>(section_header + 4);
    offset += kSectionHeaderBytes;
    if (length > end - offset)
      return Corrupt(path, absl::StrCat("section ", tag, " runs past the payload"));
    sections[tag] = SectionLocation{offset, length};
    offset += length;
  }
  return sections;
}

absl::StatusOr<std::string> ReadSection(const std::string& path,
                                        const std::map<uint32_t, SectionLocation>& sections,
                                        uint32_t tag) {
  auto it = sections.find(tag);
  if (it == sections.end()) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " has no section ", tag));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::ErrnoError(errno, "cannot open", path);
  std::string bytes(it->second.length, '\0');
  in.seekg(static_cast<std::streamoff>(it->second.offset));
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    return Corrupt(path, absl::StrCat("section ", tag, " is short (file changed?)"));
  }
  return bytes;
}

}  // namespace gdaqd::server::storage
