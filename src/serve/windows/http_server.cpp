#include "serve/http_server.h"

namespace poolscope::serve {

Result<std::unique_ptr<HttpServer>> HttpServer::open(const ServerOptions&) {
  return make_error(ErrorCode::kEnvironment,
                    "poolscope serve is not supported on Windows yet; record with `poolscope "
                    "record` and analyse the file with `poolscope leaks`");
}

}  // namespace poolscope::serve
