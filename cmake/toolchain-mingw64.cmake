# Cross-compiles poolscope for 64-bit Windows with Debian's mingw-w64 (posix threads flavour, which
# has std::thread/std::mutex). Used by scripts/build-windows.sh; the tests then run under Wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(POOLSCOPE_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${POOLSCOPE_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${POOLSCOPE_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${POOLSCOPE_MINGW_TRIPLE}-windres)
set(CMAKE_AR ${POOLSCOPE_MINGW_TRIPLE}-gcc-ar-posix CACHE FILEPATH "")
set(CMAKE_RANLIB ${POOLSCOPE_MINGW_TRIPLE}-gcc-ranlib-posix CACHE FILEPATH "")

# Look for libraries and headers only in the mingw sysroot (never /usr/include); programs on the
# build host.
set(CMAKE_FIND_ROOT_PATH /usr/${POOLSCOPE_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# One .exe with no mingw DLLs beside it (libstdc++, libgcc, winpthread linked in).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# add_test() commands and try_run go through Wine. Debian's wine64 package installs the loader
# outside PATH.
find_program(POOLSCOPE_WINE NAMES wine64 wine PATHS /usr/lib/wine NO_CMAKE_FIND_ROOT_PATH)
if(POOLSCOPE_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${POOLSCOPE_WINE})
endif()
