#include "client/results/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/results/atomic_file.h"
#include "common/status_macros.h"

namespace gdaqd::client {
namespace {

constexpr absl::string_view kMagic("\x93NUMPY", 6);
// numpy's ARRAY_ALIGN: the header is padded so that the data starts at a multiple of this.
constexpr size_t kArrayAlign = 64;
// numpy >= 1.23 leaves room in the header for the first dimension to grow to this many
// digits, so that an appending writer can rewrite the header in place.
constexpr size_t kGrowthAxisMaxDigits = 21;

// Builds magic + version 1.0 + header length + header dict, exactly as numpy.save would.
std::string EncodeHeader(int64_t rows, int64_t cols) {
  std::string rows_text = absl::StrCat(rows);
  std::string dict = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows_text,
                                  ", ", cols, "), }");
  dict.append(kGrowthAxisMaxDigits - std::min(kGrowthAxisMaxDigits, rows_text.size()), ' ');
  const size_t prefix_len = kMagic.size() + 2 + 2;       // magic, version, uint16 length
  const size_t unpadded = prefix_len + dict.size() + 1;  // + the final '\n'
  // Like numpy, pads a whole extra block when already aligned.
  const size_t pad = kArrayAlign - unpadded % kArrayAlign;
  dict.append(pad, ' ');
  dict.push_back('\n');
  const uint16_t header_len = static_cast<uint16_t>(dict.size());
  std::string out(kMagic);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header_len & 0xff));
  out.push_back(static_cast<char>(header_len >> 8));
  out += dict;
  return out;
}

// The three keys numpy writes into the header dict.
struct HeaderFields {
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<int64_t>> shape;
};

// Recursive-descent parser for the small subset of Python literal syntax that .npy headers
// use: {'key': 'str' | True | False | (int, ...), ...}.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<HeaderFields> Parse() {
    HeaderFields fields;
    GDAQD_RETURN_IF_ERROR(Expect('{'));
    while (!Consume('}')) {
      GDAQD_ASSIGN_OR_RETURN(std::string key, ParseString());
      GDAQD_RETURN_IF_ERROR(Expect(':'));
      GDAQD_RETURN_IF_ERROR(ParseValue(key, fields));
      if (!Consume(',')) {
        GDAQD_RETURN_IF_ERROR(Expect('}'));
        break;
      }
    }
    if (!fields.descr || !fields.fortran_order || !fields.shape) {
      return Error("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return fields;
  }

 private:
  absl::Status ParseValue(const std::string& key, HeaderFields& fields) {
    if (key == "descr") {
      if (Peek() != '\'' && Peek() != '"') return Error("'descr' is not a simple dtype string");
      GDAQD_ASSIGN_OR_RETURN(fields.descr, ParseString());
    } else if (key == "fortran_order") {
      if (ConsumeWord("True")) {
        fields.fortran_order = true;
      } else if (ConsumeWord("False")) {
        fields.fortran_order = false;
      } else {
        return Error("'fortran_order' is not True or False");
      }
    } else if (key == "shape") {
      GDAQD_ASSIGN_OR_RETURN(fields.shape, ParseShape());
    } else {
      return Error(absl::StrCat("unexpected key '", key, "'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    GDAQD_RETURN_IF_ERROR(Expect('('));
    std::vector<int64_t> dims;
    while (!Consume(')')) {
      SkipSpace();
      int64_t value = 0;
      size_t digits = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        const int digit = text_[pos_++] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
          return Error("shape dimension overflows int64");
        }
        value = value * 10 + digit;
        ++digits;
      }
      if (digits == 0) return Error("shape is not a tuple of non-negative integers");
      dims.push_back(value);
      if (!Consume(',')) {
        GDAQD_RETURN_IF_ERROR(Expect(')'));
        break;
      }
    }
    return dims;
  }

  absl::StatusOr<std::string> ParseString() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(absl::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  absl::Status Expect(char c) {
    if (Consume(c)) return absl::OkStatus();
    return Error(absl::StrCat("expected '", absl::string_view(&c, 1), "'"));
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed header at offset ", pos_, ": ", what));
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

uint32_t LoadLittleEndian(absl::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  }
  return value;
}

// Splits `bytes` into its header dict text and its data section.
absl::Status SplitFile(absl::string_view bytes, absl::string_view& header,
                       absl::string_view& data) {
  if (bytes.size() < kMagic.size() + 2 || bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::InvalidArgumentError("not an .npy file: bad magic string");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if (major != 1 && major != 2) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported .npy format version ", major, ".",
                                                   minor, ", expected 1.x or 2.x"));
  }
  const size_t length_width = major == 1 ? 2 : 4;
  const size_t header_start = 8 + length_width;
  if (bytes.size() < header_start) {
    return absl::InvalidArgumentError("truncated header: file ends inside the header length");
  }
  const size_t header_len = LoadLittleEndian(bytes, 8, length_width);
  if (bytes.size() - header_start < header_len) {
    return absl::InvalidArgumentError(absl::StrCat("truncated header: it declares ", header_len,
                                                   " bytes, file has ",
                                                   bytes.size() - header_start));
  }
  header = bytes.substr(header_start, header_len);
  data = bytes.substr(header_start + header_len);
  return absl::OkStatus();
}

// Checks dtype, order and rank, and returns {rows, cols}.
absl::StatusOr<std::pair<int64_t, int64_t>> CheckHeader(const HeaderFields& fields) {
  if (*fields.descr != "<f4") {
    return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", *fields.descr,
                                                   "', expected little-endian float32 '<f4'"));
  }
  if (*fields.fortran_order) {
    return absl::InvalidArgumentError("unsupported Fortran (column-major) order, expected C");
  }
  if (fields.shape->size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported rank ", fields.shape->size(), ", expected a 2-D array"));
  }
  return std::make_pair((*fields.shape)[0], (*fields.shape)[1]);
}

absl::Status WithPath(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<NpyArray> DecodeNpy(absl::string_view bytes) {
  absl::string_view header_text, data;
  GDAQD_RETURN_IF_ERROR(SplitFile(bytes, header_text, data));
  GDAQD_ASSIGN_OR_RETURN(HeaderFields fields, HeaderParser(header_text).Parse());
  GDAQD_ASSIGN_OR_RETURN(auto shape, CheckHeader(fields));
  NpyArray array;
  array.rows = shape.first;
  array.cols = shape.second;
  // A corrupt header can claim any shape; reject products that overflow before allocating.
  const uint64_t max_elements = std::numeric_limits<uint64_t>::max() / sizeof(float);
  const auto rows = static_cast<uint64_t>(array.rows);
  const auto cols = static_cast<uint64_t>(array.cols);
  if (cols != 0 && rows > max_elements / cols) {
    return absl::InvalidArgumentError("shape is too large");
  }
  const uint64_t expected = rows * cols * sizeof(float);
  if (data.size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        data.size() < expected ? "truncated data" : "trailing data", ": shape (", array.rows, ", ",
        array.cols, ") needs ", expected, " bytes, file has ", data.size()));
  }
  array.data.resize(rows * cols);
  // '<f4' is the in-memory layout on little-endian hosts: one copy, no per-element work.
  if constexpr (std::endian::native == std::endian::little) {
    if (!data.empty()) std::memcpy(array.data.data(), data.data(), data.size());
  } else {
    for (size_t i = 0; i < array.data.size(); ++i) {
      array.data[i] = std::bit_cast<float>(LoadLittleEndian(data, 4 * i, 4));
    }
  }
  return array;
}

}  // namespace

absl::Status WriteNpyFloat32(const std::string& path, int64_t rows, int64_t cols,
                             absl::Span<const float> data) {
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape (", rows, ", ", cols, ") has a negative dimension"));
  }
  const auto r = static_cast<uint64_t>(rows);
  const auto c = static_cast<uint64_t>(cols);
  if ((c != 0 && r > data.size() / c) || r * c != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape (", rows, ", ", cols, ") does not match ", data.size(), " floats"));
  }
  const std::string header = EncodeHeader(rows, cols);
  // Header and data go out as two pieces so that large arrays are not copied.
  std::string swapped;  // only used on big-endian hosts
  absl::string_view payload(reinterpret_cast<const char*>(data.data()),
                            data.size() * sizeof(float));
  if constexpr (std::endian::native != std::endian::little) {
    swapped.reserve(payload.size());
    for (float value : data) {
      const auto bits = std::bit_cast<uint32_t>(value);
      for (int i = 0; i < 4; ++i) swapped.push_back(static_cast<char>(bits >> (8 * i)));
    }
    payload = swapped;
  }
  const std::string_view pieces[] = {header, std::string_view(payload.data(), payload.size())};
  return WriteFileAtomically(path, absl::MakeConstSpan(pieces));
}

absl::StatusOr<NpyArray> ReadNpyFloat32(const std::string& path) {
  GDAQD_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  absl::StatusOr<NpyArray> array = DecodeNpy(bytes);
  if (!array.ok()) return WithPath(array.status(), path);
  return array;
}

}  // namespace gdaqd::client
