#include "client/results/csv.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/results/atomic_file.h"
#include "client/results/scratch_dir_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::client {
namespace {

using ::gdaqd::client::results_testing::TempPath;
using ::gdaqd::testing::IsOkAndHolds;
using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr char kMetricsHeader[] =
    "iteration,evaluations,qd_score,qd_score_pct,coverage_pct,max_fitness,wall_seconds,"
    "imagined_evaluations,model_holdout_loss,model_holdout_mse,critic_loss,evaluation_seconds,"
    "imagination_seconds,training_seconds,gradient_seconds\n";
// The eight learned-model columns of a row without models.
constexpr char kNoModels[] = ",0,nan,nan,nan,0,0,0,0";

std::string WriteRaw(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  EXPECT_THAT(WriteFileAtomically(path, text), ::gdaqd::testing::IsOk());
  return path;
}

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }
uint32_t Bits(float v) { return std::bit_cast<uint32_t>(v); }

// A double with random bits, re-drawn until finite: exercises every exponent and mantissa.
double RandomDouble(std::mt19937_64& rng) {
  double v;
  do {
    v = std::bit_cast<double>(rng());
  } while (!std::isfinite(v));
  return v;
}

float RandomFloat(std::mt19937_64& rng) {
  float v;
  do {
    v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  } while (!std::isfinite(v));
  return v;
}

void ExpectSameBits(const MetricsRow& a, const MetricsRow& b) {
  EXPECT_EQ(a.iteration, b.iteration);
  EXPECT_EQ(a.evaluations, b.evaluations);
  EXPECT_EQ(Bits(a.qd_score), Bits(b.qd_score));
  EXPECT_EQ(Bits(a.qd_score_pct), Bits(b.qd_score_pct));
  EXPECT_EQ(Bits(a.coverage_pct), Bits(b.coverage_pct));
  EXPECT_EQ(Bits(a.max_fitness), Bits(b.max_fitness));
  EXPECT_EQ(Bits(a.wall_seconds), Bits(b.wall_seconds));
  EXPECT_EQ(a.imagined_evaluations, b.imagined_evaluations);
  EXPECT_EQ(Bits(a.model_holdout_loss), Bits(b.model_holdout_loss));
  EXPECT_EQ(Bits(a.model_holdout_mse), Bits(b.model_holdout_mse));
  EXPECT_EQ(Bits(a.critic_loss), Bits(b.critic_loss));
  EXPECT_EQ(Bits(a.evaluation_seconds), Bits(b.evaluation_seconds));
  EXPECT_EQ(Bits(a.imagination_seconds), Bits(b.imagination_seconds));
  EXPECT_EQ(Bits(a.training_seconds), Bits(b.training_seconds));
  EXPECT_EQ(Bits(a.gradient_seconds), Bits(b.gradient_seconds));
}

TEST(MetricsCsvTest, RoundTripIsBitExact) {
  std::mt19937_64 rng(7);
  std::vector<MetricsRow> rows;
  rows.push_back({0, 0, 0.0, 0.0, 0.0, -kInf, 0.0});  // empty archive
  rows.push_back({std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), -0.0,
                  std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::max(),
                  kInf, 0.1});
  for (int i = 0; i < 500; ++i) {
    rows.push_back({i, i * 100, RandomDouble(rng), RandomDouble(rng), RandomDouble(rng),
                    RandomDouble(rng), RandomDouble(rng), i * 3200, RandomDouble(rng),
                    RandomDouble(rng), RandomDouble(rng), RandomDouble(rng), RandomDouble(rng),
                    RandomDouble(rng), RandomDouble(rng)});
  }
  const std::string path = TempPath("metrics.csv");
  GDAQD_ASSERT_OK(WriteMetricsCsv(path, rows));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<MetricsRow> read, ReadMetricsCsv(path));
  ASSERT_EQ(read.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectSameBits(read[i], rows[i]);
  }
}

TEST(MetricsCsvTest, WritesHeaderAndMinusInf) {
  const std::string path = TempPath("metrics.csv");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  GDAQD_ASSERT_OK(
      WriteMetricsCsv(path, {{{3, 1200, 12.5, 25, 50, -kInf, 1.5, 0, nan, nan, nan, 0, 0, 0, 0}}}));
  EXPECT_THAT(
      ReadFileToString(path),
      IsOkAndHolds(absl::StrCat(kMetricsHeader, "3,1200,12.5,25,50,-inf,1.5", kNoModels, "\n")));
}

// A metric an algorithm adds is a column of its own after the fixed ones: the fixed columns keep
// their names and order, so readers of older folders keep working.
TEST(MetricsCsvTest, ExtraMetricsGetAColumnEachInOrderOfFirstAppearance) {
  const std::string path = TempPath("extra.csv");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<MetricsRow> rows = {{1, 10, 1, 2, 3, 4, 5, 0, nan, nan, nan, 0, 0, 0, 0},
                                  {2, 20, 1, 2, 3, 4, 6, 0, nan, nan, nan, 0, 0, 0, 0}};
  rows[0].extra = {{"toy_b", 1}, {"toy_a", 2}};
  rows[1].extra = {{"toy_a", 3}, {"toy_c", 0.25}};
  GDAQD_ASSERT_OK(WriteMetricsCsv(path, rows));
  EXPECT_THAT(ReadFileToString(path),
              IsOkAndHolds(absl::StrCat(absl::StripSuffix(kMetricsHeader, "\n"),
                                        ",toy_b,toy_a,toy_c\n1,10,1,2,3,4,5", kNoModels,
                                        ",1,2,nan\n2,20,1,2,3,4,6", kNoModels, ",nan,3,0.25\n")));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<MetricsRow> read, ReadMetricsCsv(path));
  ASSERT_EQ(read.size(), 2u);
  ASSERT_EQ(read[0].extra.size(), 3u);
  EXPECT_EQ(read[0].extra[0].name, "toy_b");
  EXPECT_EQ(read[0].extra[1].value, 2);
  EXPECT_EQ(read[0].extra[2].name, "toy_c");
  EXPECT_TRUE(std::isnan(read[0].extra[2].value));
  EXPECT_THAT(FindMetric(read[1], "toy_c"), ::testing::Optional(0.25));
  EXPECT_THAT(FindMetric(read[1], "imagined_evaluations"), ::testing::Optional(0.0));
  EXPECT_EQ(FindMetric(read[1], "absent"), std::nullopt);
  EXPECT_EQ(read[1].wall_seconds, 6);
}

TEST(MetricsCsvTest, WriteRejectsBadExtraNames) {
  const std::string path = TempPath("bad_extra.csv");
  MetricsRow row{1, 10, 1, 2, 3, 4, 5};
  for (const char* bad : {"Toy", "toy-a", "critic_loss", ""}) {
    row.extra = {{bad, 1}};
    EXPECT_THAT(WriteMetricsCsv(path, {row}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not snake_case")))
        << bad;
  }
  row.extra = {{"toy", 1}, {"toy", 2}};
  EXPECT_THAT(WriteMetricsCsv(path, {row}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'toy' repeats")));
  EXPECT_THAT(ReadMetricsCsv(path),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));  // nothing written
}

TEST(MetricsCsvTest, RejectsBadExtraColumnsInTheHeader) {
  const std::string header(absl::StripSuffix(kMetricsHeader, "\n"));
  EXPECT_THAT(ReadMetricsCsv(WriteRaw("dup.csv", absl::StrCat(header, ",toy,toy\n"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column 17")));
  EXPECT_THAT(ReadMetricsCsv(WriteRaw("fixed.csv", absl::StrCat(header, ",wall_seconds\n"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("column 16")));
  EXPECT_THAT(
      ReadMetricsCsv(
          WriteRaw("fields.csv", absl::StrCat(header, ",toy\n1,2,3,4,5,6,7", kNoModels, "\n"))),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has 15 fields, expected 16")));
}

TEST(MetricsCsvTest, EmptyTableIsJustTheHeader) {
  const std::string path = TempPath("metrics.csv");
  GDAQD_ASSERT_OK(WriteMetricsCsv(path, {}));
  EXPECT_THAT(ReadFileToString(path), IsOkAndHolds(std::string(kMetricsHeader)));
  EXPECT_THAT(ReadMetricsCsv(path), IsOkAndHolds(IsEmpty()));
}

TEST(MetricsCsvTest, AcceptsCrLfAndMissingFinalNewline) {
  const std::string path = WriteRaw(
      "crlf.csv", absl::StrCat(absl::StripSuffix(kMetricsHeader, "\n"), "\r\n1,2,3,4,5,-inf,7",
                               kNoModels, "\r\n8,9,10,11,12,13,14", kNoModels));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<MetricsRow> rows, ReadMetricsCsv(path));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].max_fitness, -kInf);
  EXPECT_EQ(rows[1].wall_seconds, 14.0);
}

TEST(MetricsCsvTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadMetricsCsv(TempPath("missing.csv")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.csv")));
}

TEST(MetricsCsvTest, RejectsEmptyFileAndWrongHeader) {
  EXPECT_THAT(ReadMetricsCsv(WriteRaw("empty.csv", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("file is empty")));
  EXPECT_THAT(ReadMetricsCsv(WriteRaw("header.csv", "iteration,evals\n1,2\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 1: header is 'iteration,evals'")));
}

TEST(MetricsCsvTest, RejectsWrongFieldCountNamingTheLine) {
  const std::string path =
      WriteRaw("fields.csv", absl::StrCat(kMetricsHeader, "1,2,3,4,5,6,7", kNoModels, "\n1,2,3\n"));
  EXPECT_THAT(ReadMetricsCsv(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("line 3: has 3 fields, expected 15")));
}

TEST(MetricsCsvTest, RejectsBadNumbersNamingLineAndColumn) {
  const std::string path =
      WriteRaw("numbers.csv", absl::StrCat(kMetricsHeader, "1,2,3,4,5,6,7", kNoModels,
                                           "\n1,2,3,4x,5,6,7", kNoModels, "\n"));
  EXPECT_THAT(ReadMetricsCsv(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3, column 4 (qd_score_pct): cannot parse '4x'")));
  const std::string integer =
      WriteRaw("integer.csv", absl::StrCat(kMetricsHeader, "1.5,2,3,4,5,6,7", kNoModels, "\n"));
  EXPECT_THAT(
      ReadMetricsCsv(integer),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 2, column 1 (iteration): cannot parse '1.5' as an integer")));
  const std::string empty_field =
      WriteRaw("empty_field.csv", absl::StrCat(kMetricsHeader, "1,2,3,4,5,,7", kNoModels, "\n"));
  EXPECT_THAT(ReadMetricsCsv(empty_field),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2, column 6 (max_fitness): cannot parse ''")));
}

TEST(ArchiveCsvTest, RoundTripIsBitExact) {
  std::mt19937_64 rng(11);
  std::vector<ArchiveRow> rows;
  rows.push_back({0,
                  {0.0f, -0.0f, 1e-45f},
                  {std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest(),
                   std::numeric_limits<float>::min()},
                  -std::numeric_limits<float>::infinity()});
  for (int i = 1; i < 500; ++i) {
    rows.push_back({i * 7,
                    {RandomFloat(rng), RandomFloat(rng), RandomFloat(rng)},
                    {RandomFloat(rng), RandomFloat(rng), RandomFloat(rng)},
                    RandomFloat(rng)});
  }
  const std::string path = TempPath("archive.csv");
  GDAQD_ASSERT_OK(WriteArchiveCsv(path, 3, rows));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<ArchiveRow> read, ReadArchiveCsv(path));
  ASSERT_EQ(read.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(read[i].cell, rows[i].cell);
    ASSERT_EQ(read[i].centroid.size(), 3u);
    ASSERT_EQ(read[i].descriptor.size(), 3u);
    for (int d = 0; d < 3; ++d) {
      EXPECT_EQ(Bits(read[i].centroid[d]), Bits(rows[i].centroid[d]));
      EXPECT_EQ(Bits(read[i].descriptor[d]), Bits(rows[i].descriptor[d]));
    }
    EXPECT_EQ(Bits(read[i].fitness), Bits(rows[i].fitness));
  }
}

TEST(ArchiveCsvTest, WritesHeaderAndNonFiniteSpellings) {
  const std::string path = TempPath("archive.csv");
  const std::vector<ArchiveRow> rows = {
      {5, {0.25f, -0.5f}, {0.3f, -0.4f}, std::numeric_limits<float>::quiet_NaN()}};
  GDAQD_ASSERT_OK(WriteArchiveCsv(path, 2, rows));
  EXPECT_THAT(
      ReadFileToString(path),
      IsOkAndHolds(std::string("cell,centroid_0,centroid_1,descriptor_0,descriptor_1,fitness\n"
                               "5,0.25,-0.5,0.300000012,-0.400000006,nan\n")));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<ArchiveRow> read, ReadArchiveCsv(path));
  ASSERT_EQ(read.size(), 1u);
  EXPECT_TRUE(std::isnan(read[0].fitness));
}

TEST(ArchiveCsvTest, NegativeNanReadsBackAsNan) {
  const std::string path = TempPath("archive.csv");
  const float negative_nan = std::copysign(std::numeric_limits<float>::quiet_NaN(), -1.0f);
  GDAQD_ASSERT_OK(WriteArchiveCsv(path, 1, {{{1, {0}, {0}, negative_nan}}}));
  GDAQD_ASSERT_OK_AND_ASSIGN(std::vector<ArchiveRow> read, ReadArchiveCsv(path));
  ASSERT_EQ(read.size(), 1u);
  EXPECT_TRUE(std::isnan(read[0].fitness));
}

TEST(ArchiveCsvTest, EmptyArchiveKeepsItsDimension) {
  const std::string path = TempPath("archive.csv");
  GDAQD_ASSERT_OK(WriteArchiveCsv(path, 1, {}));
  EXPECT_THAT(ReadFileToString(path),
              IsOkAndHolds(std::string("cell,centroid_0,descriptor_0,fitness\n")));
  EXPECT_THAT(ReadArchiveCsv(path), IsOkAndHolds(IsEmpty()));
}

TEST(ArchiveCsvTest, WriteRejectsWrongDimensions) {
  const std::string path = TempPath("archive.csv");
  EXPECT_THAT(WriteArchiveCsv(path, 0, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptor_dim is 0")));
  const std::vector<ArchiveRow> rows = {{1, {0, 0}, {0, 0}, 1}, {9, {0, 0}, {0}, 1}};
  EXPECT_THAT(WriteArchiveCsv(path, 2, rows),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("row 1 (cell 9) has a 2-D centroid and a 1-D descriptor")));
  EXPECT_THAT(ReadFileToString(path), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ArchiveCsvTest, RejectsMalformedHeaders) {
  EXPECT_THAT(ReadArchiveCsv(WriteRaw("odd.csv", "cell,centroid_0,descriptor_0\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1: header has 3")));
  EXPECT_THAT(
      ReadArchiveCsv(
          WriteRaw("names.csv", "cell,centroid_0,centroid_1,descriptor_0,descr_1,fitness\n")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("line 1: column 5 of the header is 'descr_1', expected 'descriptor_1'")));
  EXPECT_THAT(ReadArchiveCsv(WriteRaw("empty.csv", "")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("file is empty")));
}

TEST(ArchiveCsvTest, RejectsBadRowsNamingLineAndColumn) {
  const std::string header = "cell,centroid_0,centroid_1,descriptor_0,descriptor_1,fitness\n";
  EXPECT_THAT(
      ReadArchiveCsv(WriteRaw("count.csv", header + "1,0,0,0,0,1\n2,0,0,0,0\n")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3: has 5 fields, expected 6")));
  EXPECT_THAT(ReadArchiveCsv(WriteRaw("float.csv", header + "1,0,0,0,0,1\n2,0,0,0,abc,1\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3, column 5 (descriptor_1): cannot parse 'abc'")));
  EXPECT_THAT(ReadArchiveCsv(WriteRaw("cell.csv", header + "x1,0,0,0,0,1\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2, column 1 (cell): cannot parse 'x1' as an integer")));
  EXPECT_THAT(
      ReadArchiveCsv(WriteRaw("blank.csv", header + "\n1,0,0,0,0,1\n")),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2: has 1 fields, expected 6")));
}

}  // namespace
}  // namespace gdaqd::client
