// The command line: a table of subcommands, each with its own options and handler.
#pragma once

namespace tidemark::cli {

// Parses argv, runs the subcommand, and turns every error into an exit code (0/1/2/75).
int main(int argc, char** argv);

}  // namespace tidemark::cli
