# Imported targets for the compiled dependencies of the Windows cross build, which
# scripts/build-windows.sh builds from Debian source packages into the build tree
# (<build>/deps/prefix/{include,lib}); nothing of them is committed. The target names are the ones
# find_package gives on Linux, so code can say:
#   if(NOT TARGET SQLite::SQLite3) find_package(SQLite3 REQUIRED) endif()
#   if(NOT TARGET Zydis::Zydis) find_package(zydis REQUIRED) endif()
# Zydis is the decoder only (no formatter, no encoder): enough to read instructions and their
# immediates (pool tags) out of driver code.
if(NOT POOLSCOPE_WINDOWS_DEPS)
  return()
endif()

foreach(file include/sqlite3.h lib/libsqlite3.a include/Zydis/Zydis.h include/Zycore/Zycore.h
             lib/libZydis.a)
  if(NOT EXISTS ${POOLSCOPE_WINDOWS_DEPS}/${file})
    message(FATAL_ERROR "POOLSCOPE_WINDOWS_DEPS=${POOLSCOPE_WINDOWS_DEPS} has no ${file}; "
                        "run scripts/build-windows.sh, which builds it")
  endif()
endforeach()

add_library(SQLite::SQLite3 STATIC IMPORTED GLOBAL)
set_target_properties(SQLite::SQLite3 PROPERTIES
  IMPORTED_LOCATION ${POOLSCOPE_WINDOWS_DEPS}/lib/libsqlite3.a
  INTERFACE_INCLUDE_DIRECTORIES ${POOLSCOPE_WINDOWS_DEPS}/include)
set(SQLite3_FOUND TRUE)

add_library(Zydis::Zydis STATIC IMPORTED GLOBAL)
set_target_properties(Zydis::Zydis PROPERTIES
  IMPORTED_LOCATION ${POOLSCOPE_WINDOWS_DEPS}/lib/libZydis.a
  INTERFACE_INCLUDE_DIRECTORIES ${POOLSCOPE_WINDOWS_DEPS}/include
  INTERFACE_COMPILE_DEFINITIONS
    "ZYDIS_STATIC_BUILD;ZYCORE_STATIC_BUILD;ZYDIS_DISABLE_FORMATTER;ZYDIS_DISABLE_ENCODER")
set(zydis_FOUND TRUE)
