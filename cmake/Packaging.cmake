# Install rules, the generated man page, and CPack (a .deb for Debian 12).
# Included from the top-level CMakeLists.txt after the tidemark target is defined.
#
#   cmake --install build --prefix /usr/local    bin/tidemark, share/man/man1/tidemark.1,
#                                                share/doc/tidemark/{README.md,LICENSE,docs/,examples/}
#   (cd build && cpack -G DEB)                    tidemark_<version>_<arch>.deb
#
# See "Packaging and deployment" in docs/operations.md.

include(GNUInstallDirs)

# --- the man page: tidemark(1), written from the binary's own --help -----------------
# Regenerated whenever the binary is rebuilt. Cross-compiling would need an emulator.
set(TIDEMARK_MANPAGE ${CMAKE_CURRENT_BINARY_DIR}/tidemark.1)
add_custom_command(
  OUTPUT ${TIDEMARK_MANPAGE}
  COMMAND sh ${PROJECT_SOURCE_DIR}/cmake/gen-manpage.sh
          $<TARGET_FILE:tidemark> ${TIDEMARK_MANPAGE} ${PROJECT_VERSION}
          ${CMAKE_INSTALL_FULL_DOCDIR}
  DEPENDS tidemark ${PROJECT_SOURCE_DIR}/cmake/gen-manpage.sh
  COMMENT "Generating tidemark.1 from tidemark --help"
  VERBATIM)
add_custom_target(tidemark_manpage ALL DEPENDS ${TIDEMARK_MANPAGE})

# --- install ---------------------------------------------------------------------------
install(TARGETS tidemark RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${TIDEMARK_MANPAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# The docs keep the source tree's layout so README.md's links (docs/…, LICENSE) work.
install(FILES README.md LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yml" PATTERN "*.service" PATTERN "*.timer"
        PATTERN "crontab")
install(DIRECTORY configs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.yaml" PATTERN "*.json")

# --- CPack -------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME tidemark)
set(CPACK_PACKAGE_VENDOR "tidemark")
set(CPACK_PACKAGE_CONTACT "tidemark maintainers <tidemark@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "incremental PostgreSQL-to-PostgreSQL loads that lose and duplicate nothing")
set(CPACK_PACKAGE_DESCRIPTION
    "tidemark copies what changed in PostgreSQL tables (or new and changed CSV / JSON Lines
files in a directory) to another PostgreSQL database, incrementally. One binary reads a
pipeline config, reads the changed rows in one consistent snapshot, streams them into the
target with COPY, applies them with one set-based statement per write mode and stores the
new watermark in the same target transaction. Meant to be run by cron, systemd timers, CI
jobs or an operator.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_STRIP_FILES TRUE)
if(NOT CPACK_GENERATOR)
  set(CPACK_GENERATOR "TGZ;DEB")
endif()

set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)            # tidemark_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client")
# Depends: computed from the binary's ELF dependencies by dpkg-shlibdeps (dpkg-dev) when
# it and file(1) are present; otherwise what dpkg-shlibdeps gives on Debian 12 (bookworm).
# libpq5 comes in through libpqxx-6.4; libspdlog1.10 provides libspdlog1.10-fmt9.
find_program(TIDEMARK_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(TIDEMARK_FILE_PROGRAM file)
if(TIDEMARK_DPKG_SHLIBDEPS AND TIDEMARK_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.34), libfmt9 (>= 9.1.0+ds1), libgcc-s1 (>= 3.0), libpqxx-6.4 (>= 6.4), libspdlog1.10-fmt9, libssl3 (>= 3.0.0), libstdc++6 (>= 11), libyaml-cpp0.7 (>= 0.7.0), zlib1g (>= 1:1.2.6)")
endif()

set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/\\\\.tidemark/" "/bench/results/")
include(CPack)
