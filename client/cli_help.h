// The gdaqd CLI's help: one usage text per subcommand listing that subcommand's own flags, read
// from the flag registry so that names, help strings and defaults cannot drift from the flags.
#ifndef GDAQD_CLIENT_CLI_HELP_H_
#define GDAQD_CLIENT_CLI_HELP_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gdaqd::client {

// One subcommand of gdaqd. Plain data.
struct CommandHelp {
  std::string name;      // "run"
  std::string synopsis;  // "run CONFIG [--out DIR] [--workers N] ..."
  std::string summary;   // one line for the overview
  std::string details;   // paragraphs for `gdaqd help NAME`, exit status included
  // Flags this subcommand reads (without "--"), listed with their help and default.
  std::vector<std::string> flags;
};

// Every subcommand, in overview order.
const std::vector<CommandHelp>& Commands();

// The subcommand called `name`, or nullptr.
const CommandHelp* FindCommand(absl::string_view name);

// Flags every subcommand that talks to a remote coordinator reads (--coordinator, TLS, token,
// timeouts, --verbosity).
const std::vector<std::string>& ConnectionFlags();

// `gdaqd --help` / `gdaqd help`: the subcommands with their summaries, the common flags, and
// where to read more.
std::string OverviewUsage();

// `gdaqd help NAME` / `gdaqd NAME --help`: synopsis, details and the command's own flags. Flags
// must be registered (ABSL_FLAG) in the binary; an unregistered name is listed as such.
std::string CommandUsage(const CommandHelp& command);

// If argv asks for help (--help, -help or -h before any "--"), the name of the subcommand it is
// about: the first argument that names one other than "help" ("help" if that is the only one,
// "" if none, meaning the overview). nullopt if argv does not ask for help. `gdaqd help NAME`
// without --help is a subcommand, not handled here.
std::optional<std::string> HelpRequest(int argc, char** argv);

// "gdaqd 0.1.0 (commit 1a2b3c4)\n", what --version prints for `program`.
std::string VersionLine(absl::string_view program, absl::string_view version,
                        absl::string_view commit);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_CLI_HELP_H_
