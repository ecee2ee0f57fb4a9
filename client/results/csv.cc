#include "client/results/csv.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "client/results/atomic_file.h"
#include "common/status_macros.h"

namespace gdaqd::client {
namespace {

constexpr absl::string_view kMetricsColumns[] = {
    "iteration",           "evaluations",       "qd_score",        "qd_score_pct",
    "coverage_pct",        "max_fitness",       "wall_seconds",    "imagined_evaluations",
    "model_holdout_loss",  "model_holdout_mse", "critic_loss",     "evaluation_seconds",
    "imagination_seconds", "training_seconds",  "gradient_seconds"};

// The double columns after imagined_evaluations, in column order.
constexpr double MetricsRow::*kLearningColumns[] = {
    &MetricsRow::model_holdout_loss,  &MetricsRow::model_holdout_mse,
    &MetricsRow::critic_loss,         &MetricsRow::evaluation_seconds,
    &MetricsRow::imagination_seconds, &MetricsRow::training_seconds,
    &MetricsRow::gradient_seconds};
constexpr int kFirstLearningColumn = 8;
constexpr size_t kFixedColumns = std::size(kMetricsColumns);

// A valid extra column name: snake_case ([a-z][a-z0-9_]*) and not a fixed column's.
bool IsExtraName(absl::string_view name) {
  if (name.empty() || !absl::ascii_islower(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') return false;
  }
  return !absl::c_linear_search(kMetricsColumns, name);
}

// The extra columns of `rows` in order of first appearance; InvalidArgument for a bad name or
// one that repeats within a row.
absl::StatusOr<std::vector<std::string>> ExtraColumns(absl::Span<const MetricsRow> rows) {
  std::vector<std::string> columns;
  absl::flat_hash_set<std::string> seen;
  for (size_t r = 0; r < rows.size(); ++r) {
    absl::flat_hash_set<absl::string_view> in_row;
    for (const ExtraMetric& metric : rows[r].extra) {
      if (!IsExtraName(metric.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("metrics row ", r, ": extra metric '", metric.name,
                         "' is not snake_case or names a fixed column"));
      }
      if (!in_row.insert(metric.name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("metrics row ", r, ": extra metric '", metric.name, "' repeats"));
      }
      if (seen.insert(metric.name).second) columns.push_back(metric.name);
    }
  }
  return columns;
}

// %.17g and %.9g are the shortest fixed precisions that round-trip every double / float.
void AppendDouble(std::string& out, double value) { absl::StrAppendFormat(&out, "%.17g", value); }
void AppendFloat(std::string& out, float value) { absl::StrAppendFormat(&out, "%.9g", value); }

absl::Status EmptyFileError(const std::string& path) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": file is empty, expected a header"));
}

// Walks the lines of a CSV file and parses fields, producing errors that name the file, the
// line and the column.
class CsvReader {
 public:
  CsvReader(const std::string& path, absl::string_view contents)
      : path_(path), lines_(absl::StrSplit(contents, '\n')) {
    // A final newline leaves one empty string behind; it is not a line. Blank lines elsewhere
    // stay and fail the field count: they mean the file was edited or damaged.
    if (!lines_.empty() && lines_.back().empty()) lines_.pop_back();
  }

  // Advances to the next line and splits it into `fields_`. Returns false at the end.
  bool NextLine() {
    if (next_ >= lines_.size()) return false;
    absl::string_view line = lines_[next_++];
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fields_ = absl::StrSplit(line, ',');
    return true;
  }

  const std::vector<absl::string_view>& fields() const { return fields_; }

  absl::Status LineError(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": line ", next_, ": ", what));
  }

  absl::Status CheckFieldCount(size_t expected) const {
    if (fields_.size() == expected) return absl::OkStatus();
    return LineError(absl::StrCat("has ", fields_.size(), " fields, expected ", expected));
  }

  // Parses field `column` (0-based) named `name` as a T (int64_t, double or float).
  // std::from_chars is locale-independent, rejects trailing garbage, accepts inf/nan, and
  // parses a float directly with correct rounding (going through double could round twice),
  // which is what makes the %.9g / %.17g text round-trip bit-exactly.
  template <typename T>
  absl::StatusOr<T> Parse(size_t column, absl::string_view name) const {
    const absl::string_view field = absl::StripAsciiWhitespace(fields_[column]);
    T value{};
    const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (field.empty() || error != std::errc() || end != field.data() + field.size()) {
      constexpr absl::string_view kType = std::is_integral_v<T> ? "an integer" : "a number";
      return absl::InvalidArgumentError(absl::StrCat(path_, ": line ", next_, ", column ",
                                                     column + 1, " (", name, "): cannot parse '",
                                                     field, "' as ", kType));
    }
    return value;
  }

 private:
  const std::string& path_;
  std::vector<absl::string_view> lines_;
  size_t next_ = 0;  // index of the line after the current one == 1-based current line
  std::vector<absl::string_view> fields_;
};

absl::StatusOr<MetricsRow> ParseMetricsRow(const CsvReader& reader,
                                           absl::Span<const std::string> extra_columns) {
  GDAQD_RETURN_IF_ERROR(reader.CheckFieldCount(kFixedColumns + extra_columns.size()));
  MetricsRow row;
  GDAQD_ASSIGN_OR_RETURN(row.iteration, reader.Parse<int64_t>(0, kMetricsColumns[0]));
  GDAQD_ASSIGN_OR_RETURN(row.evaluations, reader.Parse<int64_t>(1, kMetricsColumns[1]));
  GDAQD_ASSIGN_OR_RETURN(row.qd_score, reader.Parse<double>(2, kMetricsColumns[2]));
  GDAQD_ASSIGN_OR_RETURN(row.qd_score_pct, reader.Parse<double>(3, kMetricsColumns[3]));
  GDAQD_ASSIGN_OR_RETURN(row.coverage_pct, reader.Parse<double>(4, kMetricsColumns[4]));
  GDAQD_ASSIGN_OR_RETURN(row.max_fitness, reader.Parse<double>(5, kMetricsColumns[5]));
  GDAQD_ASSIGN_OR_RETURN(row.wall_seconds, reader.Parse<double>(6, kMetricsColumns[6]));
  GDAQD_ASSIGN_OR_RETURN(row.imagined_evaluations, reader.Parse<int64_t>(7, kMetricsColumns[7]));
  for (size_t k = 0; k < std::size(kLearningColumns); ++k) {
    const int column = kFirstLearningColumn + static_cast<int>(k);
    GDAQD_ASSIGN_OR_RETURN(row.*kLearningColumns[k],
                           reader.Parse<double>(column, kMetricsColumns[column]));
  }
  row.extra.reserve(extra_columns.size());
  for (size_t k = 0; k < extra_columns.size(); ++k) {
    GDAQD_ASSIGN_OR_RETURN(const double value,
                           reader.Parse<double>(kFixedColumns + k, extra_columns[k]));
    row.extra.push_back({extra_columns[k], value});
  }
  return row;
}

// Checks metrics.csv's header: the fixed columns, then distinct extra names. Returns the extras.
absl::StatusOr<std::vector<std::string>> ParseMetricsHeader(const CsvReader& reader) {
  const std::vector<absl::string_view>& fields = reader.fields();
  const std::string expected = absl::StrJoin(kMetricsColumns, ",");
  if (fields.size() < kFixedColumns ||
      absl::StrJoin(fields.begin(), fields.begin() + kFixedColumns, ",") != expected) {
    return reader.LineError(absl::StrCat("header is '", absl::StrJoin(fields, ","), "', expected '",
                                         expected, "[,<extra metrics>]'"));
  }
  std::vector<std::string> extra;
  for (size_t i = kFixedColumns; i < fields.size(); ++i) {
    const std::string name(absl::StripAsciiWhitespace(fields[i]));
    if (!IsExtraName(name) || absl::c_linear_search(extra, name)) {
      return reader.LineError(absl::StrCat("column ", i + 1, " of the header is '", name,
                                           "', expected a new snake_case metric name"));
    }
    extra.push_back(name);
  }
  return extra;
}

std::vector<std::string> ArchiveColumns(int descriptor_dim) {
  std::vector<std::string> columns = {"cell"};
  for (int i = 0; i < descriptor_dim; ++i) columns.push_back(absl::StrCat("centroid_", i));
  for (int i = 0; i < descriptor_dim; ++i) columns.push_back(absl::StrCat("descriptor_", i));
  columns.push_back("fitness");
  return columns;
}

// Infers D from the header line and checks every column name. Returns D.
absl::StatusOr<int> ParseArchiveHeader(const CsvReader& reader) {
  const std::vector<absl::string_view>& fields = reader.fields();
  if (fields.size() < 4 || fields.size() % 2 != 0) {
    return reader.LineError(absl::StrCat(
        "header has ", fields.size(),
        " columns, expected cell, D centroid_i, D descriptor_i and fitness with D >= 1"));
  }
  const int descriptor_dim = static_cast<int>((fields.size() - 2) / 2);
  const std::vector<std::string> expected = ArchiveColumns(descriptor_dim);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (absl::StripAsciiWhitespace(fields[i]) != expected[i]) {
      return reader.LineError(absl::StrCat("column ", i + 1, " of the header is '", fields[i],
                                           "', expected '", expected[i], "'"));
    }
  }
  return descriptor_dim;
}

absl::StatusOr<ArchiveRow> ParseArchiveRow(const CsvReader& reader,
                                           absl::Span<const std::string> columns) {
  GDAQD_RETURN_IF_ERROR(reader.CheckFieldCount(columns.size()));
  const size_t dim = (columns.size() - 2) / 2;
  ArchiveRow row;
  GDAQD_ASSIGN_OR_RETURN(row.cell, reader.Parse<int64_t>(0, columns[0]));
  row.centroid.resize(dim);
  row.descriptor.resize(dim);
  for (size_t i = 0; i < dim; ++i) {
    GDAQD_ASSIGN_OR_RETURN(row.centroid[i], reader.Parse<float>(1 + i, columns[1 + i]));
    GDAQD_ASSIGN_OR_RETURN(row.descriptor[i],
                           reader.Parse<float>(1 + dim + i, columns[1 + dim + i]));
  }
  GDAQD_ASSIGN_OR_RETURN(row.fitness, reader.Parse<float>(1 + 2 * dim, columns.back()));
  return row;
}

}  // namespace

bool IsFixedMetricsColumn(absl::string_view name) {
  return absl::c_linear_search(kMetricsColumns, name);
}

std::optional<double> FindMetric(const MetricsRow& row, absl::string_view name) {
  if (name == kMetricsColumns[7]) return static_cast<double>(row.imagined_evaluations);
  for (size_t k = 0; k < std::size(kLearningColumns); ++k) {
    if (name == kMetricsColumns[kFirstLearningColumn + k]) return row.*kLearningColumns[k];
  }
  for (const ExtraMetric& metric : row.extra) {
    if (metric.name == name) return metric.value;
  }
  return std::nullopt;
}

absl::Status WriteMetricsCsv(const std::string& path, absl::Span<const MetricsRow> rows) {
  GDAQD_ASSIGN_OR_RETURN(const std::vector<std::string> extra_columns, ExtraColumns(rows));
  // The whole file is built in memory: metrics tables are small, and the atomic write needs
  // the complete contents anyway.
  std::string out = absl::StrCat(absl::StrJoin(kMetricsColumns, ","));
  for (const std::string& name : extra_columns) absl::StrAppend(&out, ",", name);
  out.push_back('\n');
  out.reserve(out.size() + rows.size() * 128);
  for (const MetricsRow& row : rows) {
    absl::StrAppend(&out, row.iteration, ",", row.evaluations, ",");
    AppendDouble(out, row.qd_score);
    out.push_back(',');
    AppendDouble(out, row.qd_score_pct);
    out.push_back(',');
    AppendDouble(out, row.coverage_pct);
    out.push_back(',');
    AppendDouble(out, row.max_fitness);
    out.push_back(',');
    AppendDouble(out, row.wall_seconds);
    absl::StrAppend(&out, ",", row.imagined_evaluations);
    for (double MetricsRow::*column : kLearningColumns) {
      out.push_back(',');
      AppendDouble(out, row.*column);
    }
    for (const std::string& name : extra_columns) {
      const auto it = absl::c_find_if(row.extra, [&](const auto& m) { return m.name == name; });
      out.push_back(',');
      AppendDouble(out,
                   it == row.extra.end() ? std::numeric_limits<double>::quiet_NaN() : it->value);
    }
    out.push_back('\n');
  }
  return WriteFileAtomically(path, out);
}

absl::StatusOr<std::vector<MetricsRow>> ReadMetricsCsv(const std::string& path) {
  GDAQD_ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(path));
  CsvReader reader(path, contents);
  if (!reader.NextLine()) return EmptyFileError(path);
  GDAQD_ASSIGN_OR_RETURN(const std::vector<std::string> extra_columns, ParseMetricsHeader(reader));
  std::vector<MetricsRow> rows;
  while (reader.NextLine()) {
    GDAQD_ASSIGN_OR_RETURN(MetricsRow row, ParseMetricsRow(reader, extra_columns));
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::Status WriteArchiveCsv(const std::string& path, int descriptor_dim,
                             absl::Span<const ArchiveRow> rows) {
  if (descriptor_dim < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("descriptor_dim is ", descriptor_dim, ", expected >= 1"));
  }
  const auto dim = static_cast<size_t>(descriptor_dim);
  std::string out = absl::StrCat(absl::StrJoin(ArchiveColumns(descriptor_dim), ","), "\n");
  out.reserve(out.size() + rows.size() * (32 + 32 * dim));
  for (size_t r = 0; r < rows.size(); ++r) {
    const ArchiveRow& row = rows[r];
    if (row.centroid.size() != dim || row.descriptor.size() != dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "archive row ", r, " (cell ", row.cell, ") has a ", row.centroid.size(),
          "-D centroid and a ", row.descriptor.size(), "-D descriptor, expected ", dim, "-D"));
    }
    absl::StrAppend(&out, row.cell);
    for (float value : row.centroid) {
      out.push_back(',');
      AppendFloat(out, value);
    }
    for (float value : row.descriptor) {
      out.push_back(',');
      AppendFloat(out, value);
    }
    out.push_back(',');
    AppendFloat(out, row.fitness);
    out.push_back('\n');
  }
  return WriteFileAtomically(path, out);
}

absl::StatusOr<std::vector<ArchiveRow>> ReadArchiveCsv(const std::string& path) {
  GDAQD_ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(path));
  CsvReader reader(path, contents);
  if (!reader.NextLine()) return EmptyFileError(path);
  GDAQD_ASSIGN_OR_RETURN(const int descriptor_dim, ParseArchiveHeader(reader));
  const std::vector<std::string> columns = ArchiveColumns(descriptor_dim);
  std::vector<ArchiveRow> rows;
  while (reader.NextLine()) {
    GDAQD_ASSIGN_OR_RETURN(ArchiveRow row, ParseArchiveRow(reader, columns));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace gdaqd::client
