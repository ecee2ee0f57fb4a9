#include "client/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/config/algorithm_rules.h"
#include "common/snapshot_metrics.h"

namespace gdaqd::client {
namespace {

// The progress line's learned-model parts: a metric name and its text (empty: not shown), shown
// when the algorithm reports the metric and its value is finite.
struct LinePart {
  absl::string_view name;
  std::string (*text)(double value);
};
constexpr LinePart kLineParts[] = {
    {"imagined_evaluations",
     [](double v) {
       return v > 0 ? absl::StrCat("imagined ", WithThousands(static_cast<int64_t>(v)))
                    : std::string();
     }},
    {"model_holdout_loss", [](double v) { return absl::StrFormat("model nll %.2f", v); }},
    {"critic_loss", [](double v) { return absl::StrFormat("critic %.3g", v); }},
};

}  // namespace

std::optional<double> ProgressMetric(const gdaqd::v1::ProgressSnapshot& snapshot,
                                     absl::string_view name) {
  return common::SnapshotMetric(snapshot, name);
}

std::string WithThousands(int64_t value) {
  const std::string digits = absl::StrCat(value < 0 ? -value : value);
  std::string out = value < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

double BudgetUse::fraction() const {
  return std::clamp(static_cast<double>(used) / static_cast<double>(std::max<int64_t>(1, budget)),
                    0.0, 1.0);
}

BudgetUse SpentBudget(const gdaqd::v1::ExperimentStatus& status) {
  const gdaqd::v1::BudgetConfig& config = status.config().budget();
  BudgetUse evals{"evals", status.progress().evaluations(),
                  std::max<int64_t>(1, config.max_evaluations())};
  if (config.max_env_steps() <= 0) return evals;
  const std::optional<double> steps = ProgressMetric(status.progress(), "env_steps");
  BudgetUse env{"steps",
                steps.has_value() && std::isfinite(*steps) ? static_cast<int64_t>(*steps) : 0,
                config.max_env_steps()};
  // An RL config may leave max_evaluations unset (it is then no bound at all in practice).
  return config.max_evaluations() > 0 && evals.fraction() > env.fraction() ? evals : env;
}

std::string FormatProgress(const gdaqd::v1::ExperimentStatus& status, int bar_width) {
  const gdaqd::v1::ProgressSnapshot& p = status.progress();
  const BudgetUse use = SpentBudget(status);
  const double fraction = use.fraction();
  const int filled = static_cast<int>(std::round(fraction * bar_width));
  std::string line =
      absl::StrCat("[", std::string(filled, '#'), std::string(bar_width - filled, '-'), "] ",
                   absl::StrFormat("%3d%%", static_cast<int>(fraction * 100)));
  absl::StrAppend(&line, " it ", p.iteration(), " | ", use.unit, " ", WithThousands(use.used), "/",
                  WithThousands(use.budget));
  if (std::string(use.unit) != "evals") {
    absl::StrAppend(&line, " | evals ", WithThousands(p.evaluations()));
  }
  absl::StrAppend(&line,
                  absl::StrFormat(" | QD %.1f%% | cov %.1f%%", p.qd_score_pct(), p.coverage_pct()));
  if (std::isfinite(p.max_fitness())) {
    absl::StrAppend(&line, absl::StrFormat(" | max %.2f", p.max_fitness()));
  }
  absl::StrAppend(&line, " | ", WithThousands(static_cast<int64_t>(p.evaluations_per_s())),
                  " ev/s | ", status.connected_workers(), " workers");
  if (p.wall_seconds() > 0) absl::StrAppend(&line, " | elapsed ", FormatDuration(p.wall_seconds()));
  if (const double eta = EtaSeconds(status); eta >= 0) {
    absl::StrAppend(&line, " | ETA ", FormatDuration(eta));
  }
  // Learned models (DA_QD_EXT, GDA_QD, PGA_ME): what imagination and training are doing.
  for (const LinePart& part : kLineParts) {
    const std::optional<double> value = ProgressMetric(p, part.name);
    if (!value.has_value() || !std::isfinite(*value)) continue;
    if (std::string text = part.text(*value); !text.empty()) absl::StrAppend(&line, " | ", text);
  }
  if (status.state() != gdaqd::v1::RUNNING) {
    absl::StrAppend(&line, " | ", gdaqd::v1::ExperimentState_Name(status.state()));
  }
  return line;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "-";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

double EtaSeconds(const gdaqd::v1::ExperimentStatus& status) {
  const gdaqd::v1::ProgressSnapshot& p = status.progress();
  const BudgetUse use = SpentBudget(status);
  if (status.state() != gdaqd::v1::RUNNING || use.used <= 0 || p.wall_seconds() <= 0 ||
      use.used >= use.budget) {
    return -1;
  }
  return p.wall_seconds() * static_cast<double>(use.budget - use.used) /
         static_cast<double>(use.used);
}

std::string FormatStatusTable(const std::vector<gdaqd::v1::ExperimentStatus>& experiments) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "ALGORITHM", "TASK", "STATE", "PROGRESS", "ELAPSED", "ETA"}};
  for (const gdaqd::v1::ExperimentStatus& status : experiments) {
    const BudgetUse use = SpentBudget(status);
    const double eta = EtaSeconds(status);
    rows.push_back({status.id(), status.config().name().empty() ? "-" : status.config().name(),
                    common::AlgorithmName(status.config().algorithm()),
                    status.config().env().task(), gdaqd::v1::ExperimentState_Name(status.state()),
                    absl::StrCat(WithThousands(use.used), "/", WithThousands(use.budget),
                                 std::string(use.unit) == "steps" ? " steps" : "", " (",
                                 static_cast<int>(100 * use.fraction()), "%)"),
                    FormatDuration(status.progress().wall_seconds()),
                    eta >= 0 ? FormatDuration(eta) : "-"});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string table;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t c = 0; c < rows[r].size(); ++c) {
      absl::StrAppend(&line, rows[r][c], std::string(widths[c] - rows[r][c].size() + 2, ' '));
    }
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&table, line, "\n");
    if (r > 0 && !experiments[r - 1].error().empty()) {
      absl::StrAppend(&table, "  error: ", experiments[r - 1].error(), "\n");
    }
  }
  return table;
}

ProgressPrinter::ProgressPrinter(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressPrinter::Note(const std::string& text) {
  absl::MutexLock lock(&mu_);
  if (tty_ && dirty_) {
    std::fprintf(out_, "\r\033[K%s\n%s", text.c_str(), last_line_.c_str());
  } else {
    std::fprintf(out_, "%s\n", text.c_str());
  }
  std::fflush(out_);
}

void ProgressPrinter::Update(const gdaqd::v1::ExperimentStatus& status) {
  const std::string line = FormatProgress(status, 20);
  absl::MutexLock lock(&mu_);
  if (tty_) {
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    std::fflush(out_);
    dirty_ = true;
    last_line_ = line;
    return;
  }
  const int decile = static_cast<int>(10 * SpentBudget(status).fraction());
  const double now_s = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  const bool final_state =
      status.state() != gdaqd::v1::RUNNING && status.state() != gdaqd::v1::PENDING;
  if (decile != last_decile_ || now_s - last_print_s_ >= 30 || final_state) {
    std::fprintf(out_, "%s\n", line.c_str());
    std::fflush(out_);
    last_decile_ = decile;
    last_print_s_ = now_s;
  }
}

void ProgressPrinter::Finish() {
  absl::MutexLock lock(&mu_);
  if (tty_ && dirty_) std::fprintf(out_, "\n");
  dirty_ = false;
}

}  // namespace gdaqd::client
