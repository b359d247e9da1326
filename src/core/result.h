// Error type and Result<T> used by every library: errors carry a code, the OS code and what to do
// next.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "core/expected_compat.h"

namespace poolscope {

enum class ErrorCode {
  kUsage,        // bad command line
  kInput,        // a file or text we cannot read as any known format, or a malformed line
  kEnvironment,  // no permission, kernel/OS lacks the feature, call refused
  kInternal,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::int64_t os_code = 0;  // errno, Win32 error or NTSTATUS; 0 when none
  std::string message;       // says what happened and what to do next
};

template <class T>
using Result = expected<T, Error>;

inline unexpected<Error> make_error(ErrorCode code, std::string message, std::int64_t os_code = 0) {
  return unexpected<Error>(Error{code, os_code, std::move(message)});
}

// Exit codes shared by all verbs (see docs/architecture.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitEnvironment = 3;

inline int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUsage:
    case ErrorCode::kInput:
      return kExitUsage;
    case ErrorCode::kEnvironment:
      return kExitEnvironment;
    case ErrorCode::kInternal:
      break;
  }
  return 70;  // EX_SOFTWARE: a bug in poolscope
}

}  // namespace poolscope
