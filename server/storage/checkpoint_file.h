// The coordinator's checkpoint file: one self-checking binary file per checkpoint of an
// experiment (docs/durability.md §1).
//
//   magic "GDAQDCKP" (8 bytes) | format version u32 | payload length u64 | payload | CRC-32 u32
//   payload = sections, each: tag u32 | length u64 | bytes          (all integers little-endian)
//
// A file is only trusted after its magic, version, length (against the file's size) and the
// CRC-32 (zlib) of the whole payload check out, so a truncated, bit-flipped or foreign file is
// refused before anything in it is parsed.
#ifndef GDAQD_SERVER_STORAGE_CHECKPOINT_FILE_H_
#define GDAQD_SERVER_STORAGE_CHECKPOINT_FILE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gdaqd::server::storage {

inline constexpr char kCheckpointMagic[] = "GDAQDCKP";  // 8 bytes, no terminator on disk
inline constexpr uint32_t kCheckpointFormatVersion = 1;

// Section tags. Values are part of the format.
enum SectionTag : uint32_t {
  kRecordSection = 1,         // gdaqd.v1.ExperimentRecord
  kAlgorithmSection = 2,      // QdAlgorithm::SaveCheckpoint() bytes; absent once final
  kArchiveExportSection = 3,  // the ExportArchive stream (archive_export.h)
};

// Receives a streamed section's bytes in order, a piece at a time; returns the write's error.
using SectionSink = absl::FunctionRef<absl::Status(absl::string_view)>;

// One section: either `bytes`, or (when `writer` is set) `length` bytes that `writer` produces
// through its sink while the file is written, so that a large section need not be built in
// memory first. The writer returns the sink's first error, or its own.
struct Section {
  uint32_t tag;
  absl::string_view bytes = {};  // must outlive WriteCheckpointFile()
  uint64_t length = 0;           // with `writer`: the exact number of bytes it produces
  std::function<absl::Status(SectionSink)> writer = nullptr;
};

// Called once the first half of the payload is on disk and before the rest is written (tests
// hold the write open there to kill the process mid-write). May be empty.
using MidWriteHook = std::function<void(const std::string& tmp_path)>;

// Writes the sections to `path` durably (temporary file, fsync, rename, fsync of the directory),
// in blocks of 1 MiB. Errno-derived codes naming the path, a section writer's error, or Internal
// if a writer produced a different number of bytes than its `length`; `path` is untouched on
// error.
absl::Status WriteCheckpointFile(const std::string& path, const std::vector<Section>& sections,
                                 const MidWriteHook& hook = nullptr);

// Where one section lies in a verified file.
struct SectionLocation {
  uint64_t offset = 0;  // from the start of the file
  uint64_t length = 0;
};

// Verifies the whole file (streaming, in blocks) and returns where each section is. DataLoss
// naming the file and the problem ("truncated: header says 1234 payload bytes, file has 1000",
// "CRC mismatch", "bad magic", "format version 7, this server reads 1") for a damaged file;
// NotFound if it does not exist.
absl::StatusOr<std::map<uint32_t, SectionLocation>> VerifyCheckpointFile(const std::string& path);

// Reads one section's bytes (after VerifyCheckpointFile said where it is). NotFound if the file
// has no such section; DataLoss if the file changed underneath.
absl::StatusOr<std::string> ReadSection(const std::string& path,
                                        const std::map<uint32_t, SectionLocation>& sections,
                                        uint32_t tag);

}  // namespace gdaqd::server::storage

#endif  // GDAQD_SERVER_STORAGE_CHECKPOINT_FILE_H_
