#include "serve/http_client.h"

namespace poolscope::serve {

Result<HttpResponse> http_get(const HttpUrl&, std::string_view, const GetOptions&) {
  return make_error(ErrorCode::kEnvironment,
                    "reading from Prometheus is not supported on Windows yet; run `poolscope "
                    "leaks --prometheus` on a Linux machine");
}

}  // namespace poolscope::serve
