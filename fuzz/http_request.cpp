// Fuzzer for the request parser of `poolscope serve`. Besides not crashing: a complete request
// consumed no more than it was given and within the head limit, is GET or HEAD on a path; a
// refusal has an HTTP error status and says why; anything past the limit is never incomplete.
#include "serve/http_request.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace serve = poolscope::serve;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const serve::HttpRequest r = serve::parse_http_request(text);
  switch (r.state) {
    case serve::ParseState::kComplete:
      if (r.consumed == 0 || r.consumed > size || r.consumed > serve::kMaxRequestHead) std::abort();
      if (r.method != "GET" && r.method != "HEAD") std::abort();
      if (r.path.empty() || r.path.front() != '/') std::abort();
      break;
    case serve::ParseState::kBad:
      if (r.status < 400 || r.status > 599 || r.error.empty()) std::abort();
      break;
    case serve::ParseState::kIncomplete:
      if (size >= serve::kMaxRequestHead) std::abort();
      break;
  }
  serve::wants_openmetrics(r.accept);
  return 0;
}
