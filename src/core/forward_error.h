// The error of a failed Result passed on as the caller's: `return forward_error(r);` for
// `return std::unexpected(r.error());`.
#pragma once

#include "core/result.h"

namespace poolscope {

template <class T>
std::unexpected<Error> forward_error(const Result<T>& failed) {
  return std::unexpected<Error>(failed.error());
}

}  // namespace poolscope
