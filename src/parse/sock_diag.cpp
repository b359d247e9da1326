// NETLINK_SOCK_DIAG unix socket dumps as bytes (see sock_diag.h).
#include "parse/sock_diag.h"

#include <cstring>
#include <string>

namespace poolscope::parse {

namespace {

// linux/netlink.h
constexpr std::uint16_t kNlmsgError = 2, kNlmsgDone = 3;
constexpr std::uint16_t kNlmFRequest = 0x1, kNlmFDump = 0x300;  // NLM_F_ROOT | NLM_F_MATCH
constexpr std::size_t kNlmsgHeader = 16;  // len u32, type u16, flags u16, seq u32, pid u32
// linux/sock_diag.h, linux/unix_diag.h
constexpr std::uint16_t kSockDiagByFamily = 20;
constexpr std::uint8_t kAfUnix = 1;
constexpr std::uint32_t kUdiagShowRqlen = 0x10;
constexpr std::uint16_t kUnixDiagRqlen = 4;
constexpr std::size_t kUnixDiagMsg = 16;  // family, type, state, pad (u8); ino u32; cookie u32[2]
constexpr std::uint8_t kTcpListen = 10;   // udiag_state of a listening socket

constexpr std::size_t align4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

template <class T>
T read(std::span<const std::uint8_t> bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  const auto at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

}  // namespace

std::vector<std::uint8_t> unix_diag_dump_request(std::uint32_t sequence) {
  std::vector<std::uint8_t> out;
  put<std::uint32_t>(out, kNlmsgHeader + 24);
  put<std::uint16_t>(out, kSockDiagByFamily);
  put<std::uint16_t>(out, kNlmFRequest | kNlmFDump);
  put<std::uint32_t>(out, sequence);
  put<std::uint32_t>(out, 0);  // the kernel's port
  // unix_diag_req: family, protocol, pad; states; ino; show; cookie[2].
  put<std::uint8_t>(out, kAfUnix);
  put<std::uint8_t>(out, 0);
  put<std::uint16_t>(out, 0);
  put<std::uint32_t>(out, ~0u);  // every state
  put<std::uint32_t>(out, 0);
  put<std::uint32_t>(out, kUdiagShowRqlen);
  put<std::uint32_t>(out, ~0u);  // INET_DIAG_NOCOOKIE
  put<std::uint32_t>(out, ~0u);
  return out;
}

Result<bool> add_unix_socket_queues(
    std::span<const std::uint8_t> datagram,
    std::vector<std::pair<std::uint64_t, std::uint64_t>>& queue_by_inode) {
  std::size_t at = 0;
  while (datagram.size() - at >= kNlmsgHeader) {
    const auto length = read<std::uint32_t>(datagram, at);
    const auto type = read<std::uint16_t>(datagram, at + 4);
    if (length < kNlmsgHeader || length > datagram.size() - at) {
      return make_error(ErrorCode::kInput, "sock_diag answer: a message of " +
                                               std::to_string(length) + " bytes at offset " +
                                               std::to_string(at) + " does not fit the datagram");
    }
    const auto message = datagram.subspan(at + kNlmsgHeader, length - kNlmsgHeader);
    if (type == kNlmsgDone) return true;
    if (type == kNlmsgError) {
      const std::int32_t error = message.size() >= 4 ? read<std::int32_t>(message, 0) : 0;
      return make_error(
          ErrorCode::kInput,
          "sock_diag refused the unix socket dump (errno " + std::to_string(-error) + ")", -error);
    }
    if (type == kSockDiagByFamily && message.size() >= kUnixDiagMsg && message[0] == kAfUnix) {
      const std::uint8_t state = message[2];
      const auto inode = read<std::uint32_t>(message, 4);
      // The attributes (rtattr: len u16, type u16, payload, aligned to 4).
      std::size_t a = kUnixDiagMsg;
      // a may pass the end after an attribute's padding: compared without underflow (issue 21,
      // found by fuzzing).
      while (a <= message.size() && message.size() - a >= 4) {
        const auto attr_length = read<std::uint16_t>(message, a);
        const auto attr_type = read<std::uint16_t>(message, a + 2);
        if (attr_length < 4 || attr_length > message.size() - a) break;
        if (attr_type == kUnixDiagRqlen && attr_length >= 4 + 8 && state != kTcpListen) {
          const auto unread = read<std::uint32_t>(message, a + 4);  // udiag_rqueue
          if (unread != 0) queue_by_inode.emplace_back(inode, unread);
        }
        a += align4(attr_length);
      }
    }
    at += align4(length);
    if (at > datagram.size()) break;
  }
  return false;
}

}  // namespace poolscope::parse
