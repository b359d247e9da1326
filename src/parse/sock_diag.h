// NETLINK_SOCK_DIAG for unix sockets, as bytes: the dump request poolscope sends and the decoder of
// the kernel's answer (the unread bytes on each unix socket, UDIAG_SHOW_RQLEN), which procfs does
// not show (/proc/net/unix has no queue sizes). No OS headers: the kernel's layouts are written
// out here (linux/netlink.h, linux/sock_diag.h, linux/unix_diag.h); the socket calls are in
// source/linux/process_facts.cpp. Netlink is in the host's byte order.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "core/result.h"

namespace poolscope::parse {

// A dump of every unix socket of the network namespace with its queue lengths: nlmsghdr
// (SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP) + unix_diag_req (all states,
// UDIAG_SHOW_RQLEN).
std::vector<std::uint8_t> unix_diag_dump_request(std::uint32_t sequence);

// One recv() of the answer: adds each unix socket's unread bytes (udiag_rqueue) under its inode;
// listening sockets (whose rqueue counts pending connections, not bytes) and sockets with nothing
// queued are left out. Returns true at NLMSG_DONE (the dump is complete), false when more
// datagrams follow. kInput on NLMSG_ERROR (its errno in Error::os_code) or a truncated message.
Result<bool> add_unix_socket_queues(
    std::span<const std::uint8_t> datagram,
    std::vector<std::pair<std::uint64_t, std::uint64_t>>& queue_by_inode);

}  // namespace poolscope::parse
