// The error of a failed Result passed on as the caller's: `return forward_error(r);` for
// `return forward_error(r);`.
#pragma once

#include "core/result.h"

namespace poolscope {

template <class T>
unexpected<Error> forward_error(const Result<T>& failed) {
  return unexpected<Error>(failed.error());
}

}  // namespace poolscope
