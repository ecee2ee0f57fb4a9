// The grid's plan (PlanStudy) and MAP-Elites of other grids beside the RL rows
// (LoadQdReferences): the parts of bench/study.h that read flags' text and other grids' folders.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/study.h"
#include "bench/study_stats.h"
#include "client/results/svg_plots.h"
#include "common/config/config.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"

namespace gdaqd::bench {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::StatusOr<std::map<std::string, int64_t>> ParseBudgets(absl::string_view text,
                                                            absl::string_view flag) {
  std::map<std::string, int64_t> budgets;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(item, '=');
    int64_t n = 0;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &n) || n < 1) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " entry '", item, "' is not task=N"));
    }
    budgets[kv[0]] = n;
  }
  return budgets;
}

absl::StatusOr<std::vector<int64_t>> ParseSeeds(absl::string_view text) {
  std::vector<int64_t> seeds;
  for (absl::string_view s : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t seed = 0;
    if (!absl::SimpleAtoi(s, &seed)) {
      return absl::InvalidArgumentError(absl::StrCat("seed '", s, "' is not an integer"));
    }
    seeds.push_back(seed);
  }
  return seeds;
}

}  // namespace

std::vector<QdReference> LoadQdReferences(const std::string& grid,
                                          const std::vector<std::string>& tasks) {
  std::vector<QdReference> references;
  for (const std::string& task : tasks) {
    std::map<int64_t, std::vector<double>> finals;  // by budget
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(grid + "/runs", error)) {
      StudyRun run;
      run.task = task;
      run.algorithm = "MAP_ELITES";
      run.dir = entry.path().string();
      gdaqd::v1::ExperimentConfig config;
      const std::string name = entry.path().filename().string();
      absl::string_view seed = name;
      if (!absl::ConsumePrefix(&seed, absl::StrCat(task, "_map_elites_s")) ||
          !absl::SimpleAtoi(seed, &run.seed) ||
          !google::protobuf::TextFormat::ParseFromString(ReadWhole(run.dir + "/config.textproto"),
                                                         &config)) {
        continue;
      }
      run.budget = config.budget().max_evaluations();
      if (LoadFinishedRun(run)) finals[run.budget].push_back(run.metrics.back().max_fitness);
    }
    auto most = finals.begin();  // ascending budget: a later one wins ties
    for (auto it = finals.begin(); it != finals.end(); ++it) {
      if (it->second.size() >= most->second.size()) most = it;
    }
    if (most == finals.end()) continue;
    references.push_back({grid, task, most->first, static_cast<int>(most->second.size()),
                          Quantile(most->second, 0.5)});
  }
  return references;
}

absl::StatusOr<std::vector<StudyRun>> PlanStudy(const StudyPlan& plan) {
  absl::StatusOr<std::map<std::string, int64_t>> budgets = ParseBudgets(plan.budgets, "--budgets");
  if (!budgets.ok()) return budgets.status();
  absl::StatusOr<std::map<std::string, int64_t>> rl_budgets =
      ParseBudgets(plan.rl_budgets, "--rl_budgets");
  if (!rl_budgets.ok()) return rl_budgets.status();
  absl::StatusOr<std::vector<int64_t>> seeds = ParseSeeds(plan.seeds);
  if (!seeds.ok()) return seeds.status();
  const std::vector<std::string> tasks = absl::StrSplit(plan.tasks, ',', absl::SkipEmpty());
  const std::vector<std::string> algorithms =
      absl::StrSplit(plan.algorithms, ',', absl::SkipEmpty());
  std::vector<StudyRun> grid;
  auto add = [&](const std::string& task, const std::string& algorithm, const std::string& schedule,
                 int64_t seed) -> absl::Status {
    StudyRun run;
    run.task = task;
    run.algorithm = algorithm;
    run.schedule = schedule;
    run.seed = seed;
    const bool rl = IsRlRun(run);
    const std::map<std::string, int64_t>& budget = rl ? *rl_budgets : *budgets;
    if (!budget.count(task)) {
      return absl::InvalidArgumentError(absl::StrCat(
          rl ? "--rl_budgets" : "--budgets", " has no entry for ", task, " (", algorithm, ")"));
    }
    run.budget = budget.at(task);
    run.dir = absl::StrCat(plan.out, "/runs/", RunName(run));
    grid.push_back(std::move(run));
    return absl::OkStatus();
  };
  for (const std::string& task : tasks) {
    for (int64_t seed : *seeds) {
      for (const std::string& algorithm : algorithms) {
        if (absl::Status s = add(task, algorithm, "", seed); !s.ok()) return s;
      }
    }
  }
  for (absl::string_view arm : absl::StrSplit(plan.arms, ';', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(arm, ':');
    absl::StatusOr<std::vector<int64_t>> arm_seeds =
        parts.size() == 4 ? ParseSeeds(parts[3]) : absl::InvalidArgumentError("");
    if (!arm_seeds.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--arms entry '", arm, "' is not task:ALGORITHM:SCHEDULE:seeds"));
    }
    if (std::find(tasks.begin(), tasks.end(), parts[0]) == tasks.end()) continue;
    for (int64_t seed : *arm_seeds) {
      if (absl::Status s = add(parts[0], parts[1], parts[2], seed); !s.ok()) return s;
    }
  }
  return grid;
}

absl::StatusOr<std::vector<std::string>> ParseSubmitOnly(absl::string_view text,
                                                         const std::vector<StudyRun>& grid) {
  std::vector<std::string> prefixes;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const std::string prefix(absl::StripAsciiWhitespace(item));
    if (prefix.empty()) continue;
    const bool names_a_run = std::any_of(grid.begin(), grid.end(), [&](const StudyRun& run) {
      return absl::StartsWith(RunName(run), prefix);
    });
    if (!names_a_run) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--submit_only entry '", prefix,
          "' is the start of no run's name in this grid (names are <task>_<algorithm>_s<seed>, "
          "e.g. ant_trap_map_elites_s1)"));
    }
    prefixes.push_back(prefix);
  }
  return prefixes;
}

bool SubmitAllowed(const StudyRun& run, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  const std::string name = RunName(run);
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& prefix) { return absl::StartsWith(name, prefix); });
}

absl::StatusOr<bool> ReuseFinishedRun(StudyRun& run, const std::string& source_grid,
                                      const std::string& extra) {
  StudyRun source = run;
  source.dir = absl::StrCat(source_grid, "/runs/", RunName(run));
  source.finished = false;
  source.metrics.clear();
  if (!LoadFinishedRun(source)) return false;
  absl::StatusOr<gdaqd::v1::ExperimentConfig> mine = StudyRunConfig(run, extra);
  if (!mine.ok()) return mine.status();  // defaults applied there
  absl::StatusOr<gdaqd::v1::ExperimentConfig> theirs =
      common::LoadStoredExperimentConfig(source.dir + "/config.textproto");
  if (!theirs.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot reuse ", source.dir, ": its config.textproto: ", theirs.status().message()));
  }
  if (!google::protobuf::util::MessageDifferencer::Equals(*mine, *theirs)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot reuse ", source.dir,
                     ": it ran with another config than this grid's run of that name"));
  }
  const std::string staging = run.dir + ".reuse-tmp";
  std::error_code error;
  std::filesystem::remove_all(staging, error);
  std::filesystem::create_directories(std::filesystem::path(staging).parent_path(), error);
  std::filesystem::copy(source.dir, staging, std::filesystem::copy_options::recursive, error);
  if (!error) {
    absl::Status written = client::WriteTextFile(
        staging + "/reused_from.txt",
        absl::StrCat(source.dir, "\n(the same run: same name, same config, finished there)\n"));
    if (!written.ok()) {
      std::filesystem::remove_all(staging, error);
      return written;
    }
    std::filesystem::remove_all(run.dir, error);
  }
  if (!error) std::filesystem::rename(staging, run.dir, error);
  if (error) {
    const std::string why = error.message();
    std::filesystem::remove_all(staging, error);
    return absl::InternalError(absl::StrCat("cannot copy ", source.dir, " to ", run.dir, ": ", why));
  }
  if (!LoadFinishedRun(run)) {
    return absl::InternalError(absl::StrCat("the copy ", run.dir, " does not load"));
  }
  return true;
}

}  // namespace gdaqd::bench
