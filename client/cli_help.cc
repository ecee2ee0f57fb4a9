#include "client/cli_help.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gdaqd::client {
namespace {

constexpr char kExitCodes[] =
    "\nexit status: 0 success; 1 error (\"error: CODE: message\" on stderr); 2 usage error";

// The commands that talk to a remote coordinator, in overview order.
std::vector<CommandHelp> RemoteCommands() {
  const std::vector<std::string> remote = ConnectionFlags();
  auto with_remote = [&](std::vector<std::string> own) {
    own.insert(own.end(), remote.begin(), remote.end());
    return own;
  };
  return {
      {"submit", "submit CONFIG", "submit an experiment to --coordinator; prints its id",
       "Validates CONFIG, submits it, prints the experiment id on stdout.\n" +
           std::string(kExitCodes) + ".",
       with_remote({})},
      {"status", "status [ID]", "a table of one experiment, or of all of them",
       "Prints a table with a header: ID, NAME, ALGORITHM, TASK, STATE, PROGRESS\n"
       "(evaluations/budget), ELAPSED (running time) and ETA (at the average rate so far).\n" +
           std::string(kExitCodes) + ".",
       with_remote({})},
      {"watch", "watch ID", "follow an experiment with a progress line until it ends",
       "Follows experiment ID until it ends. Warns if no worker has connected after 5 s.\n"
       "Ctrl-C stops watching and leaves the experiment running (gdaqd cancel ID stops it).\n" +
           std::string(kExitCodes) +
           "; 1 also if the experiment FAILED or was CANCELLED; 130 interrupted.",
       with_remote({})},
      {"cancel", "cancel ID", "stop an experiment (its archive stays exportable)",
       "Cancels experiment ID. An experiment that has already ended is left as it is and\n"
       "cancel says \"already finished (STATE)\"; that is not an error (exit 0), since the\n"
       "experiment is not running either way.\n" +
           std::string(kExitCodes) + ".",
       with_remote({})},
      {"delete", "delete ID", "remove a finished experiment and its stored state for good",
       "Deletes a finished experiment; FAILED_PRECONDITION while it still runs.\n" +
           std::string(kExitCodes) + ".",
       with_remote({})},
      {"export", "export ID DIR [--force]", "write the results folder of an experiment into DIR",
       "Writes the results folder of experiment ID (running or ended) into DIR, which must be\n"
       "empty or missing unless --force (which replaces the results files in it).\n" +
           std::string(kExitCodes) + ".",
       with_remote({"force"})},
  };
}

// run, the remote commands, then the commands that work on results folders, and help.
std::vector<CommandHelp> MakeCommands() {
  std::vector<CommandHelp> commands = {
      {"run",
       "run CONFIG [--out DIR] [--force] [--workers N] [--threads N]",
       "run CONFIG on a local coordinator and workers, write a results folder",
       "Starts a coordinator and --workers worker processes on 127.0.0.1 (the same binaries a\n"
       "cluster runs), runs the experiment CONFIG (a textproto, see examples/) to its budget\n"
       "with a progress line, and writes the results folder --out. --out must be empty or\n"
       "missing unless --force. Ctrl-C cancels the experiment, still writes the results so far,\n"
       "and exits 130; a second Ctrl-C exits at once.\n" +
           std::string(kExitCodes) + "; 130 interrupted.",
       {"out", "force", "workers", "threads", "verbosity"}},
  };
  for (CommandHelp& command : RemoteCommands()) commands.push_back(std::move(command));
  std::vector<CommandHelp> local = {
      {"replay",
       "replay DIR --cell N|best [--out DIR]",
       "re-run one elite of a results folder and check it",
       "Re-runs the elite of cell N (or the fittest elite, --cell best) of the results folder\n"
       "DIR with the workers' task code, checks that fitness and descriptor are bit-identical\n"
       "to the archived ones, and writes trajectory_N.csv (into --out, default DIR).\n" +
           std::string(kExitCodes) + " or a replay that does not match the archive.",
       {"cell", "out", "verbosity"}},
      {"compare",
       "compare DIR... [--out DIR]",
       "median/IQR curves and a Table-1 summary of results folders",
       "Groups the results folders DIR... (of run, export or bench_reproduce) by task and\n"
       "algorithm and writes into --out (default comparison): table1.csv and table1.md (per\n"
       "group, median and quartiles over runs of the final QD-score %, coverage % and max\n"
       "fitness, evaluations to reach MAP-Elites' final median QD-score, wall time) and\n"
       "progress_<task>.svg (median line and inter-quartile band per algorithm). Files of\n"
       "those names are replaced; nothing else in --out is touched.\n" +
           std::string(kExitCodes) + ".",
       {"out"}},
      {"help",
       "help [COMMAND]",
       "this overview, or the usage of COMMAND",
       "Prints the overview, or the usage of COMMAND (the same as gdaqd COMMAND --help).",
       {}},
  };
  for (CommandHelp& command : local) commands.push_back(std::move(command));
  return commands;
}

constexpr size_t kFlagColumn = 24;
constexpr size_t kLineWidth = 100;

// "  --name" padded to kFlagColumn, then `text` wrapped at kLineWidth with hanging indent.
std::string FlagLine(const std::string& name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::StrCat("  --", name, "  (not registered in this binary)\n");
  std::string default_value = flag->DefaultValue();
  if (default_value.empty()) default_value = "\"\"";
  const std::string text = absl::StrCat(flag->Help(), " (default: ", default_value, ")");
  std::string out = absl::StrCat("  --", name);
  out.resize(std::max(out.size() + 2, kFlagColumn), ' ');
  size_t column = out.size();
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (column > kFlagColumn && column + 1 + word.size() > kLineWidth) {
      absl::StrAppend(&out, "\n", std::string(kFlagColumn, ' '));
      column = kFlagColumn;
    } else if (column > kFlagColumn) {
      out.push_back(' ');
      ++column;
    }
    absl::StrAppend(&out, word);
    column += word.size();
  }
  return out + "\n";
}

}  // namespace

const std::vector<std::string>& ConnectionFlags() {
  static const std::vector<std::string>* const flags = new std::vector<std::string>{
      "coordinator", "tls_ca", "tls_server_name", "token_file", "connect_timeout_s", "verbosity"};
  return *flags;
}

const std::vector<CommandHelp>& Commands() {
  static const std::vector<CommandHelp>* const commands =
      new std::vector<CommandHelp>(MakeCommands());
  return *commands;
}

const CommandHelp* FindCommand(absl::string_view name) {
  for (const CommandHelp& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

std::string OverviewUsage() {
  std::string text =
      "gdaqd: model-based Quality-Diversity experiments on a gdaqd coordinator.\n\n"
      "usage: gdaqd COMMAND [ARGS] [FLAGS]      gdaqd help COMMAND for a command's flags\n\n"
      "commands:\n";
  for (const CommandHelp& command : Commands()) {
    std::string line = absl::StrCat("  ", command.name);
    line.resize(std::max<size_t>(line.size() + 2, 11), ' ');
    absl::StrAppend(&text, line, command.summary, "\n");
  }
  absl::StrAppend(&text, "\nflags of the commands that talk to a coordinator:\n");
  for (const std::string& flag : ConnectionFlags()) absl::StrAppend(&text, FlagLine(flag));
  absl::StrAppend(&text,
                  "\n  --version             the version and git commit of this build\n"
                  "\nresults folder: config.textproto provenance.json status.textproto "
                  "metrics.csv archive.csv\narchive_params.npy archive.svg progress.svg "
                  "(docs/cli.md; policy layout in docs/policy_layout.md)\n");
  return text;
}

std::string CommandUsage(const CommandHelp& command) {
  std::string summary = command.summary;
  if (!summary.empty()) summary[0] = absl::ascii_toupper(summary[0]);
  std::string text = absl::StrCat("usage: gdaqd ", command.synopsis, "\n\n", summary, ".\n\n",
                                  command.details, "\n");
  if (!command.flags.empty()) {
    absl::StrAppend(&text, "\nflags:\n");
    for (const std::string& flag : command.flags) absl::StrAppend(&text, FlagLine(flag));
  }
  return text;
}

std::optional<std::string> HelpRequest(int argc, char** argv) {
  bool help = false;
  std::string command;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) break;
    if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-help") == 0 ||
        std::strcmp(arg, "-h") == 0) {
      help = true;
    } else if ((command.empty() || command == "help") && arg[0] != '-' &&
               FindCommand(arg) != nullptr) {
      command = arg;  // `gdaqd help run --help` is about run
    }
  }
  if (!help) return std::nullopt;
  return command;
}

std::string VersionLine(absl::string_view program, absl::string_view version,
                        absl::string_view commit) {
  return absl::StrCat(program, " ", version, " (commit ", commit, ")\n");
}

}  // namespace gdaqd::client
