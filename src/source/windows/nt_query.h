// NtQuerySystemInformation-style queries on Windows, shared by the live source and the process
// facts: the status codes, their text, resolving ntdll exports, and the grow-and-retry call (the
// tables grow between the call that sizes the buffer and the one that fills it).
#pragma once

#include <windows.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace poolscope::nt {

using Status = LONG;
inline constexpr Status kInfoLengthMismatch = static_cast<Status>(0xC0000004);
inline constexpr Status kBufferTooSmall = static_cast<Status>(0xC0000023);
inline constexpr Status kBufferOverflow = static_cast<Status>(0x80000005);
inline constexpr int kMaxQueryAttempts = 8;

inline std::string hex_status(Status status) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08lX", static_cast<unsigned long>(status));
  return text;
}

// An export of a loaded module (ntdll.dll, kernel32.dll) as a function pointer; nullptr when
// absent.
template <class Fn>
Fn resolve(HMODULE module, const char* name) {
  if (!module) return nullptr;
  // Through void(*)() so -Wcast-function-type accepts the FARPROC conversion.
  return reinterpret_cast<Fn>(reinterpret_cast<void (*)()>(::GetProcAddress(module, name)));
}

// True if the status asks for a bigger buffer and one was made: what the call said it needs plus
// 1/8 (entries are added between the two calls on a busy system), else twice the size; never past
// max_bytes.
inline bool grow(Status status, ULONG returned, std::vector<std::byte>& buffer,
                 std::size_t max_bytes) {
  if (status != kInfoLengthMismatch && status != kBufferTooSmall && status != kBufferOverflow) {
    return false;
  }
  const std::size_t want = returned > buffer.size() ? returned + returned / 8 : buffer.size() * 2;
  if (want > max_bytes) return false;
  buffer.resize(want);
  return true;
}

// Calls query(buffer, size, &returned) until it does not ask for more room (at most
// kMaxQueryAttempts times, growing the buffer from `initial` up to max_bytes). Returns the last
// status; on success `length` is the data's length.
template <class Query>
Status query_growing(std::vector<std::byte>& buffer, std::size_t initial, std::size_t max_bytes,
                     Query query, std::size_t& length) {
  if (buffer.size() < initial) buffer.resize(initial);
  Status status = 0;
  for (int attempt = 0; attempt < kMaxQueryAttempts; ++attempt) {
    ULONG returned = 0;
    status =
        query(buffer.data(), static_cast<ULONG>(std::min<std::size_t>(buffer.size(), 0xFFFFFFFFu)),
              &returned);
    if (status >= 0) {  // NT_SUCCESS
      length = returned ? std::min<std::size_t>(returned, buffer.size()) : buffer.size();
      return status;
    }
    if (!grow(status, returned, buffer, max_bytes)) return status;
  }
  return status;
}

}  // namespace poolscope::nt
