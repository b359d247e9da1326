# The BPF backend of `trace`: src/trace/linux/poolscope.bpf.c built with clang -target bpf -g
# against a vmlinux.h that bpftool generates from the build machine's kernel BTF (CO-RE: libbpf
# relocates the field accesses to the running kernel's layout at load), turned into a skeleton
# header (bpftool gen skeleton) and loaded by libbpf, linked statically (libbpf.a, libelf.a, libz.a)
# so poolscope stays one file. Without the toolchain (POOLSCOPE_BPF=OFF, or clang, bpftool, the
# static libraries or the kernel BTF missing) poolscope is built without it and `trace` uses the
# tracefs backend, saying why in a note.
option(POOLSCOPE_BPF "Build trace's BPF backend (clang, bpftool, libbpf-dev, libelf-dev, zlib1g-dev)" ON)
set(POOLSCOPE_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH
    "Kernel BTF vmlinux.h is generated from (any kernel with BTF: CO-RE adapts at load)")
set(_bpf_missing "")
if(POOLSCOPE_BPF)
  find_program(POOLSCOPE_BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
  find_program(POOLSCOPE_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
  find_path(POOLSCOPE_LIBBPF_INCLUDE bpf/libbpf.h)
  find_library(POOLSCOPE_LIBBPF_A NAMES libbpf.a)
  find_library(POOLSCOPE_LIBELF_A NAMES libelf.a)
  find_library(POOLSCOPE_LIBZ_A NAMES libz.a)
  foreach(_what POOLSCOPE_BPF_CLANG POOLSCOPE_BPFTOOL POOLSCOPE_LIBBPF_INCLUDE POOLSCOPE_LIBBPF_A
                POOLSCOPE_LIBELF_A POOLSCOPE_LIBZ_A)
    if(NOT ${_what})
      list(APPEND _bpf_missing ${_what})
    endif()
  endforeach()
  if(NOT EXISTS "${POOLSCOPE_VMLINUX_BTF}")
    list(APPEND _bpf_missing "${POOLSCOPE_VMLINUX_BTF}")
  endif()
else()
  set(_bpf_missing "POOLSCOPE_BPF=OFF")
endif()

if(_bpf_missing STREQUAL "")
  set(_gen "${CMAKE_CURRENT_BINARY_DIR}/bpf")
  set(_src "${CMAKE_CURRENT_SOURCE_DIR}/linux/poolscope.bpf.c")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set(_arch x86)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(_arch arm64)
  else()
    set(_arch ${CMAKE_SYSTEM_PROCESSOR})
  endif()
  add_custom_command(
    OUTPUT "${_gen}/vmlinux.h"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${_gen}"
    COMMAND ${POOLSCOPE_BPFTOOL} btf dump file "${POOLSCOPE_VMLINUX_BTF}" format c > "${_gen}/vmlinux.h.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${_gen}/vmlinux.h.tmp" "${_gen}/vmlinux.h"
    COMMENT "bpftool: vmlinux.h from ${POOLSCOPE_VMLINUX_BTF}"
    VERBATIM)
  add_custom_command(
    OUTPUT "${_gen}/poolscope.skel.h"
    COMMAND ${POOLSCOPE_BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${_arch} -I "${_gen}"
            -I "${POOLSCOPE_LIBBPF_INCLUDE}" -c "${_src}" -o "${_gen}/poolscope.bpf.o"
    # Linking drops the DWARF (the BTF stays): a 17 KB object in the skeleton instead of 640 KB.
    COMMAND ${POOLSCOPE_BPFTOOL} gen object "${_gen}/poolscope.o" "${_gen}/poolscope.bpf.o"
    COMMAND ${POOLSCOPE_BPFTOOL} gen skeleton "${_gen}/poolscope.o" name poolscope_bpf > "${_gen}/poolscope.skel.h.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${_gen}/poolscope.skel.h.tmp" "${_gen}/poolscope.skel.h"
    DEPENDS "${_src}" "${_gen}/vmlinux.h"
    COMMENT "clang -target bpf + bpftool gen skeleton: poolscope.skel.h"
    VERBATIM)
  add_custom_target(poolscope_bpf_skeleton DEPENDS "${_gen}/poolscope.skel.h")
  add_dependencies(poolscope_trace poolscope_bpf_skeleton)
  target_include_directories(poolscope_trace SYSTEM PRIVATE "${_gen}")
  target_compile_definitions(poolscope_trace PRIVATE POOLSCOPE_HAVE_BPF=1)
  target_link_libraries(poolscope_trace PRIVATE ${POOLSCOPE_LIBBPF_A} ${POOLSCOPE_LIBELF_A}
                                                ${POOLSCOPE_LIBZ_A})
  message(STATUS "trace: BPF backend on (libbpf ${POOLSCOPE_LIBBPF_A}, static)")
else()
  target_compile_definitions(poolscope_trace PRIVATE POOLSCOPE_HAVE_BPF=0)
  message(STATUS "trace: BPF backend OFF (missing: ${_bpf_missing}); trace uses tracefs")
endif()
