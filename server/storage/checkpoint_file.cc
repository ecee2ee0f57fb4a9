#include "server/storage/checkpoint_file.h"

#include <zlib.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/durable_file.h"

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

}  // namespace

absl::Status WriteCheckpointFile(const std::string& path, const std::vector<Section>& sections,
                                 const MidWriteHook& hook) {
  uint64_t payload_bytes = 0;
  for (const Section& section : sections)
    payload_bytes += kSectionHeaderBytes + section.bytes.size();
  absl::StatusOr<common::DurableFileWriter> writer = common::DurableFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  const std::string header =
      absl::StrCat(absl::string_view(kCheckpointMagic, kMagicBytes),
                   LittleEndian(kCheckpointFormatVersion), LittleEndian(payload_bytes));
  if (absl::Status status = writer->Append(header); !status.ok()) return status;
  uint32_t crc = static_cast<uint32_t>(crc32(0, nullptr, 0));
  uint64_t written = 0;
  bool hooked = hook == nullptr;
  auto append = [&](absl::string_view bytes) -> absl::Status {
    while (!bytes.empty()) {
      size_t n = std::min(bytes.size(), kBlockBytes);
      if (!hooked && written < payload_bytes / 2)
        n = std::min<uint64_t>(n, payload_bytes / 2 - written);
      const absl::string_view block = bytes.substr(0, n);
      crc = Crc(crc, block);
      if (absl::Status status = writer->Append(block); !status.ok()) return status;
      written += n;
      bytes.remove_prefix(n);
      if (!hooked && written >= payload_bytes / 2) {
        hooked = true;
        hook(writer->tmp_path());
      }
    }
    return absl::OkStatus();
  };
  for (const Section& section : sections) {
    const std::string section_header =
        absl::StrCat(LittleEndian(section.tag), LittleEndian<uint64_t>(section.bytes.size()));
    if (absl::Status status = append(section_header); !status.ok()) return status;
    if (absl::Status status = append(section.bytes); !status.ok()) return status;
  }
  if (absl::Status status = writer->Append(LittleEndian(crc)); !status.ok()) return status;
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
