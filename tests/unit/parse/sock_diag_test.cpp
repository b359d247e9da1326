// The sock_diag unix socket dump decoder on a real dump (tests/data/sock_diag: this machine's unix
// sockets, captured with a Python script holding a socketpair with 1,000 unread bytes at inode
// 3389525, a listener with one pending connection at 3389526 and a datagram pair with 300 unread
// at 3389529) and on hand-made bad datagrams.
#include "parse/sock_diag.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "test_support.h"

namespace poolscope::parse {
namespace {

using Queues = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

std::vector<std::uint8_t> bytes_of(const std::string& name) {
  const std::string text = testing::read_file(testing::test_data("sock_diag/" + name));
  return {text.begin(), text.end()};
}

std::uint64_t queued(const Queues& queues, std::uint64_t inode) {
  for (const auto& [i, bytes] : queues) {
    if (i == inode) return bytes;
  }
  return 0;
}

TEST(UnixSockDiag, RealDumpGivesTheUnreadBytesOfEachSocket) {
  Queues queues;
  auto first = add_unix_socket_queues(bytes_of("unix_dump_0.bin"), queues);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_FALSE(*first);  // more datagrams follow
  auto last = add_unix_socket_queues(bytes_of("unix_dump_1.bin"), queues);
  ASSERT_TRUE(last.has_value());
  EXPECT_TRUE(*last);  // NLMSG_DONE
  EXPECT_EQ(queued(queues, 3389525), 1000u);
  EXPECT_EQ(queued(queues, 3389529), 300u);
  // A listener's rqueue counts pending connections, not bytes: left out; so is the sending end.
  EXPECT_EQ(queued(queues, 3389526), 0u);
  EXPECT_EQ(queued(queues, 3389524), 0u);
  EXPECT_TRUE(
      std::none_of(queues.begin(), queues.end(), [](const auto& q) { return q.second == 0; }));
}

TEST(UnixSockDiag, RequestIsADumpOfEveryUnixSocketWithQueueLengths) {
  const auto request = unix_diag_dump_request(7);
  ASSERT_EQ(request.size(), 40u);
  std::uint32_t length = 0, show = 0, sequence = 0;
  std::uint16_t type = 0, flags = 0;
  std::memcpy(&length, request.data(), 4);
  std::memcpy(&type, request.data() + 4, 2);
  std::memcpy(&flags, request.data() + 6, 2);
  std::memcpy(&sequence, request.data() + 8, 4);
  std::memcpy(&show, request.data() + 28, 4);
  EXPECT_EQ(length, 40u);
  EXPECT_EQ(type, 20);      // SOCK_DIAG_BY_FAMILY
  EXPECT_EQ(flags, 0x301);  // NLM_F_REQUEST | NLM_F_DUMP
  EXPECT_EQ(sequence, 7u);
  EXPECT_EQ(request[16], 1);  // AF_UNIX
  EXPECT_EQ(show, 0x10u);     // UDIAG_SHOW_RQLEN
}

TEST(UnixSockDiag, ErrorAndTruncatedMessagesAreInputErrors) {
  Queues queues;
  // NLMSG_ERROR with -EPERM (1).
  std::vector<std::uint8_t> error(20, 0);
  const std::uint32_t length = 20;
  const std::uint16_t type = 2;
  const std::int32_t eperm = -1;
  std::memcpy(error.data(), &length, 4);
  std::memcpy(error.data() + 4, &type, 2);
  std::memcpy(error.data() + 16, &eperm, 4);
  auto refused = add_unix_socket_queues(error, queues);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().os_code, 1);
  EXPECT_NE(refused.error().message.find("errno 1"), std::string::npos);
  // A message claiming more bytes than the datagram holds.
  auto dump = bytes_of("unix_dump_0.bin");
  dump.resize(dump.size() - 10);
  auto truncated = add_unix_socket_queues(dump, queues);
  ASSERT_FALSE(truncated.has_value());
  EXPECT_NE(truncated.error().message.find("does not fit"), std::string::npos);
  // Nothing at all: no message, not done.
  auto empty = add_unix_socket_queues({}, queues);
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(*empty);
}

// Found by fuzzing (issue 21): an attribute whose length is not a multiple of 4 ends the message;
// its padding took the read position past the end, and the next check underflowed and read past
// the datagram. The message is read up to there, and the next one still is.
TEST(UnixSockDiag, AttributePaddingPastTheMessageEndIsNotReadPast) {
  std::vector<std::uint8_t> datagram;
  auto put32 = [&](std::uint32_t v) {
    const auto at = datagram.size();
    datagram.resize(at + 4);
    std::memcpy(datagram.data() + at, &v, 4);
  };
  auto put16 = [&](std::uint16_t v) {
    const auto at = datagram.size();
    datagram.resize(at + 2);
    std::memcpy(datagram.data() + at, &v, 2);
  };
  // nlmsghdr (16) + unix_diag_msg (16) + a 5-byte attribute: 37 bytes, the last message.
  put32(37);
  put16(20);  // SOCK_DIAG_BY_FAMILY
  put16(2);
  put32(1);
  put32(0);
  datagram.insert(datagram.end(), {1, 1, 1, 0});  // AF_UNIX, SOCK_STREAM, established
  put32(12345);                                   // inode
  put32(0);
  put32(0);
  put16(5);  // rtattr of 5 bytes: padded to 8, past the message's end
  put16(6);
  datagram.push_back(0);
  Queues queues;
  auto read = add_unix_socket_queues(datagram, queues);
  ASSERT_TRUE(read.has_value()) << read.error().message;
  EXPECT_FALSE(*read);
  EXPECT_TRUE(queues.empty());
}

}  // namespace
}  // namespace poolscope::parse
