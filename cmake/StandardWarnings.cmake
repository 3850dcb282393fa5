# Warnings as an INTERFACE target so every project target opts in the same way.
add_library(tidemark_warnings INTERFACE)
target_compile_options(tidemark_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wpedantic -Wimplicit-fallthrough)
if(TIDEMARK_WERROR OR DEFINED ENV{CI})
  target_compile_options(tidemark_warnings INTERFACE -Werror)
endif()
