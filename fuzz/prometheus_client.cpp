// Fuzzer for what `leaks --prometheus` parses: the URL, the HTTP response and the query_range
// and label-values JSON, then the histories built from it. Besides not crashing: a parsed URL has a
// host and a port; decoded bodies are no longer than the input; every history has samples; the
// instance matcher of the decoded label values names each of them once.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "serve/http_client.h"
#include "serve/prometheus_history.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace serve = poolscope::serve;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto url = serve::parse_http_url(text)) {
    if (url->host.empty() || url->port.empty()) std::abort();
  }
  if (auto response = serve::parse_http_response(text)) {
    if (response->body.size() > size) std::abort();
    if (response->status < 100 || response->status > 599) std::abort();
  }
  if (auto series = serve::parse_query_range(text)) {
    serve::PromData d;
    d.outstanding = *series;
    d.bytes = *series;
    d.pool_used = *series;
    d.memory_available = *series;
    for (const auto& [instance, history] : serve::histories_from_prometheus(d, 16)) {
      if (history.samples() <= 0) std::abort();
    }
  }
  if (auto values = serve::parse_label_values(text)) {
    if (!values->empty()) {
      const std::string matcher = serve::instance_matcher(*values);
      if (matcher.rfind("instance=", 0) != 0) std::abort();
      if (auto query = serve::with_matchers("m", "", matcher); !query) std::abort();
    }
  }
  (void)serve::with_matchers("poolscope_key_bytes", text);
  (void)serve::with_matchers("poolscope_key_bytes", text, "instance=\"a\"");
  return 0;
}
