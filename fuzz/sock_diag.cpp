// Fuzzer for the NETLINK_SOCK_DIAG unix socket dump decoder (parse/sock_diag.h).
#include "parse/sock_diag.h"

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> queues;
  (void)poolscope::parse::add_unix_socket_queues(std::span<const std::uint8_t>(data, size), queues);
  return 0;
}
