# ASan + UBSan for the whole build when TIDEMARK_SANITIZE=ON.
add_library(tidemark_sanitizers INTERFACE)
if(TIDEMARK_SANITIZE)
  target_compile_options(tidemark_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(tidemark_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
