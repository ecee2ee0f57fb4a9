#include "client/results/npy.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/results/atomic_file.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::gdaqd::client::results_testing::TempPath;
using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kArrayAlign = 64;  // numpy's ARRAY_ALIGN

// Builds an .npy file by hand: `dict` padded with spaces and '\n' to a 64-byte boundary.
std::string MakeNpy(const std::string& dict, int major, const std::string& data) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % kArrayAlign != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out("\x93NUMPY", 6);
  out.push_back(static_cast<char>(major));
  out.push_back('\0');
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) {
    out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  return out + header + data;
}

std::string FloatBytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4);
}

std::string WriteRaw(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  EXPECT_THAT(WriteFileAtomically(path, bytes), ::gdaqd::testing::IsOk());
  return path;
}

std::vector<uint32_t> Bits(const std::vector<float>& values) {
  std::vector<uint32_t> bits;
  for (float v : values) bits.push_back(std::bit_cast<uint32_t>(v));
  return bits;
}

TEST(NpyTest, RoundTripIsBitExact) {
  const std::vector<float> data = {0.0f,
                                   -0.0f,
                                   1.0f / 3.0f,
                                   -2.5e-38f,
                                   std::numeric_limits<float>::denorm_min(),
                                   std::numeric_limits<float>::max(),
                                   std::numeric_limits<float>::lowest(),
                                   std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(),
                                   std::numeric_limits<float>::quiet_NaN(),
                                   123456.789f,
                                   -1.0f};
  const std::string path = TempPath("a.npy");
  GDAQD_ASSERT_OK(WriteNpyFloat32(path, 3, 4, data));
  GDAQD_ASSERT_OK_AND_ASSIGN(NpyArray array, ReadNpyFloat32(path));
  EXPECT_EQ(array.rows, 3);
  EXPECT_EQ(array.cols, 4);
  EXPECT_EQ(Bits(array.data), Bits(data));
}

TEST(NpyTest, RoundTripWithZeroRows) {
  const std::string path = TempPath("empty.npy");
  GDAQD_ASSERT_OK(WriteNpyFloat32(path, 0, 5, {}));
  GDAQD_ASSERT_OK_AND_ASSIGN(NpyArray array, ReadNpyFloat32(path));
  EXPECT_EQ(array.rows, 0);
  EXPECT_EQ(array.cols, 5);
  EXPECT_TRUE(array.data.empty());
}

TEST(NpyTest, HeaderIsExactlyWhatNumpySaveWrites) {
  // Bytes of np.save(f, np.zeros((3, 4), '<f4')) up to the data, from numpy 1.24.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  const std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict +
                               std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  const std::string path = TempPath("golden.npy");
  GDAQD_ASSERT_OK(WriteNpyFloat32(path, 3, 4, std::vector<float>(12, 0.0f)));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(path));
  ASSERT_EQ(bytes.size(), 128u + 48u);
  EXPECT_EQ(bytes.substr(0, 128), expected);
}

TEST(NpyTest, DataStartsOnA64ByteBoundaryForAnyShape) {
  for (int64_t rows : {int64_t{0}, int64_t{1}, int64_t{9}, int64_t{10}, int64_t{1234567}}) {
    for (int64_t cols : {int64_t{0}, int64_t{1}, int64_t{3}}) {
      const std::string path = TempPath("aligned.npy");
      const std::vector<float> data(static_cast<size_t>(rows * cols), 1.5f);
      GDAQD_ASSERT_OK(WriteNpyFloat32(path, rows, cols, data));
      GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(path));
      const size_t header_size = bytes.size() - data.size() * sizeof(float);
      EXPECT_EQ(header_size % kArrayAlign, 0u) << rows << "x" << cols;
      EXPECT_EQ(bytes[header_size - 1], '\n');
      EXPECT_THAT(bytes, HasSubstr(absl::StrCat("'shape': (", rows, ", ", cols, "), }")));
    }
  }
}

TEST(NpyTest, ReadsVersion2AndOlderHeaderSpellings) {
  const std::vector<float> data = {1, 2, 3, 4, 5, 6};
  const std::string v2 = WriteRaw(
      "v2.npy",
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 2, FloatBytes(data)));
  GDAQD_ASSERT_OK_AND_ASSIGN(NpyArray a, ReadNpyFloat32(v2));
  EXPECT_EQ(a.rows, 2);
  EXPECT_EQ(a.cols, 3);
  EXPECT_EQ(a.data, data);
  // No trailing comma, other key order, double quotes, no growth padding.
  const std::string old = WriteRaw(
      "old.npy",
      MakeNpy("{\"shape\":(3,2),\"fortran_order\":False,\"descr\":\"<f4\"}", 1, FloatBytes(data)));
  GDAQD_ASSERT_OK_AND_ASSIGN(NpyArray b, ReadNpyFloat32(old));
  EXPECT_EQ(b.rows, 3);
  EXPECT_EQ(b.cols, 2);
  EXPECT_EQ(b.data, data);
}

TEST(NpyTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadNpyFloat32(TempPath("missing.npy")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.npy")));
}

TEST(NpyTest, RejectsBadMagic) {
  const std::string path = WriteRaw("bad.npy", "PK\x03\x04 this is a zip file, not npy");
  EXPECT_THAT(ReadNpyFloat32(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad magic")));
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("short.npy", "\x93NUM")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad magic")));
}

TEST(NpyTest, RejectsUnsupportedVersion) {
  std::string bytes = MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1), }", 2, "");
  bytes[6] = 3;
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("v3.npy", bytes)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("version 3.0")));
}

TEST(NpyTest, RejectsTruncatedHeader) {
  const std::string full =
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1), }", 1, "");
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("h1.npy", full.substr(0, 9))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated header")));
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("h2.npy", full.substr(0, 40))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated header")));
}

TEST(NpyTest, RejectsMalformedHeaders) {
  const char* const kDicts[] = {
      "not a dict",
      "{'descr': '<f4', 'fortran_order': False}",                           // no shape
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 1}",  // unknown key
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 1)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 99999999999999999999)}",
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1)}",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (1, 1)}",
  };
  for (const char* dict : kDicts) {
    EXPECT_THAT(ReadNpyFloat32(WriteRaw("m.npy", MakeNpy(dict, 1, FloatBytes({0})))),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed header")))
        << dict;
  }
}

TEST(NpyTest, RejectsOtherDtypes) {
  const std::string path =
      WriteRaw("f8.npy", MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", 1,
                                 std::string(8, '\0')));
  EXPECT_THAT(ReadNpyFloat32(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype '<f8'")));
  const std::string big =
      WriteRaw("be.npy", MakeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }", 1,
                                 std::string(4, '\0')));
  EXPECT_THAT(ReadNpyFloat32(big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dtype '>f4'")));
}

TEST(NpyTest, RejectsFortranOrder) {
  const std::string path = WriteRaw(
      "f.npy",
      MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", 1, FloatBytes({1})));
  EXPECT_THAT(ReadNpyFloat32(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Fortran")));
}

TEST(NpyTest, RejectsRanksOtherThanTwo) {
  const std::string rank1 = WriteRaw(
      "r1.npy",
      MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, FloatBytes({1, 2})));
  EXPECT_THAT(ReadNpyFloat32(rank1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank 1")));
  const std::string rank3 =
      WriteRaw("r3.npy", MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }",
                                 1, FloatBytes({1, 2})));
  EXPECT_THAT(ReadNpyFloat32(rank3),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rank 3")));
}

TEST(NpyTest, RejectsTruncatedAndTrailingData) {
  const std::string path = TempPath("t.npy");
  GDAQD_ASSERT_OK(WriteNpyFloat32(path, 2, 2, std::vector<float>{1, 2, 3, 4}));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(path));
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("short.npy", bytes.substr(0, bytes.size() - 1))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("truncated data: shape (2, 2) needs 16 bytes, file has 15")));
  EXPECT_THAT(ReadNpyFloat32(WriteRaw("long.npy", bytes + "x")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing data")));
}

TEST(NpyTest, ErrorsNameThePath) {
  const std::string path = WriteRaw("named.npy", "garbage");
  EXPECT_THAT(ReadNpyFloat32(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("named.npy: not an .npy file")));
}

TEST(NpyTest, WriteRejectsShapeMismatch) {
  const std::string path = TempPath("mismatch.npy");
  EXPECT_THAT(WriteNpyFloat32(path, 2, 3, std::vector<float>(5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("(2, 3)")));
  EXPECT_THAT(WriteNpyFloat32(path, -1, 0, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("negative")));
  EXPECT_THAT(WriteNpyFloat32(path, int64_t{1} << 62, 4, std::vector<float>(4)),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(ReadFileToString(path), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(NpyTest, WriteIntoMissingDirectoryFails) {
  EXPECT_THAT(WriteNpyFloat32(TempPath("nodir/x.npy"), 1, 1, std::vector<float>{1}),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace gdaqd::client
