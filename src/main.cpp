// tidemark: see docs/architecture.md. All the work happens behind the CLI.
#include "cli/cli.hpp"

int main(int argc, char** argv) { return tidemark::cli::main(argc, argv); }
