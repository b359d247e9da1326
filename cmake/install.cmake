# What `cmake --install` puts where, and the packages CPack makes from it: a .deb on Linux (the
# binary, the recorder's systemd unit, Prometheus rules, Grafana dashboard, man pages, completions,
# docs) and a .zip on Windows (poolscope.exe, the docs and the service instructions).
include(GNUInstallDirs)

install(TARGETS poolscope RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(WIN32)
  # One folder to unzip: poolscope.exe beside its documents.
  install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION .)
  install(FILES ${CMAKE_SOURCE_DIR}/docs/windows.md ${CMAKE_SOURCE_DIR}/docs/recording.md
                ${CMAKE_SOURCE_DIR}/docs/detection.md ${CMAKE_SOURCE_DIR}/docs/trace.md
          DESTINATION docs)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/prometheus/poolscope-rules.yml DESTINATION prometheus)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/grafana/poolscope-dashboard.json DESTINATION grafana)
else()
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/poolscope-record.service
          DESTINATION lib/systemd/system)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/prometheus/poolscope-rules.yml
          DESTINATION ${CMAKE_INSTALL_DATADIR}/poolscope/prometheus)
  install(FILES ${CMAKE_SOURCE_DIR}/packaging/grafana/poolscope-dashboard.json
          DESTINATION ${CMAKE_INSTALL_DATADIR}/poolscope/grafana)
  file(GLOB poolscope_docs ${CMAKE_SOURCE_DIR}/docs/*.md)
  install(FILES ${CMAKE_SOURCE_DIR}/README.md ${poolscope_docs}
          DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

# Man pages (one per verb) and completions, written by the binary just built from its own option
# definitions (`poolscope --generate-man DIR`, `--generate-completion bash|zsh`). A cross build
# cannot run its binary here, so it ships without them.
if(NOT CMAKE_CROSSCOMPILING)
  string(TIMESTAMP poolscope_man_date "%Y-%m-%d" UTC)  # honours SOURCE_DATE_EPOCH
  set(generated ${CMAKE_BINARY_DIR}/generated-docs)
  add_custom_command(
    OUTPUT ${generated}/man/poolscope.1 ${generated}/poolscope.bash ${generated}/_poolscope
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${generated}/man
    COMMAND poolscope --generate-man ${generated}/man --man-date ${poolscope_man_date}
    COMMAND poolscope --generate-completion bash > ${generated}/poolscope.bash
    COMMAND poolscope --generate-completion zsh > ${generated}/_poolscope
    DEPENDS poolscope
    COMMENT "Generating man pages and shell completions from poolscope's options")
  add_custom_target(poolscope_docs ALL
    DEPENDS ${generated}/man/poolscope.1 ${generated}/poolscope.bash ${generated}/_poolscope)
  install(DIRECTORY ${generated}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          FILES_MATCHING PATTERN "*.1")
  install(FILES ${generated}/poolscope.bash DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          RENAME poolscope)
  install(FILES ${generated}/_poolscope DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
endif()

set(CPACK_PACKAGE_NAME poolscope)
set(CPACK_PACKAGE_VENDOR "poolscope")
set(CPACK_PACKAGE_CONTACT "poolscope maintainers <poolscope@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "find the kernel pool (Windows) or kernel memory (Linux) that leaks, and its owner")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_STRIP_FILES ON)
if(WIN32)
  set(CPACK_GENERATOR ZIP)
  set(CPACK_SYSTEM_NAME windows-x64)
  set(CPACK_INCLUDE_TOPLEVEL_DIRECTORY ON)
else()
  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # poolscope_0.1.0_amd64.deb
  set(CPACK_DEBIAN_PACKAGE_SECTION admin)
  # The shared libraries' packages (libfmt9, libsqlite3-0, libzydis3, libncursesw6 ...), as
  # dpkg-shlibdeps finds them for the binary.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/debian/postinst)
  set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
endif()
include(CPack)
