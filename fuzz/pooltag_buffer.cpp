// Fuzzer for the NtQuerySystemInformation pool buffer decoders (classes 22, 67, 66, 2), both
// layouts. Besides not crashing, a decoded entry must satisfy outstanding = allocs - frees mod
// 2^32.
#include "parse/pooltag_buffer.h"

#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

void check(const poolscope::Snapshot& snapshot) {
  for (const auto& e : snapshot.entries) {
    const auto& c = e.counters;
    if (!c.allocs || !c.frees || !c.outstanding || !c.bytes) std::abort();
    if (*c.allocs > 0xFFFFFFFFu || *c.frees > 0xFFFFFFFFu) std::abort();
    if (*c.outstanding != ((*c.allocs - *c.frees) & 0xFFFFFFFFu)) std::abort();
    if (e.key.name.size() != 4) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  std::span<const std::byte> buffer(reinterpret_cast<const std::byte*>(data), size);
  for (auto width : {parse::PointerWidth::k64, parse::PointerWidth::k32}) {
    if (auto parsed = parse::decode_pooltag_buffer(buffer, width)) check(parsed->snapshot);
    poolscope::Snapshot sessions;
    if (parse::decode_session_pooltag_into(buffer, width, sessions)) {
      check(sessions);
    } else if (!sessions.entries.empty()) {
      std::abort();  // a failed decode must not leave partial entries behind
    }
    (void)parse::decode_bigpool_buffer(buffer, width);
    if (auto perf = parse::decode_performance_buffer(buffer, width)) {
      poolscope::Snapshot totals;
      parse::apply_pool_performance(*perf, 4096, totals);
    }
  }
  return 0;
}
