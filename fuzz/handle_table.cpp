// Fuzzer for the handle table and object type decoders and the census, both layouts. The first
// 2 bytes (little-endian) are the length of an ObjectTypesInformation buffer that follows; the
// rest is a SystemExtendedHandleInformation buffer. Besides not crashing: the census counts
// every handle once, and no holder has more exited references than Process handles.
#include "parse/handle_table.h"

#include <cstdint>
#include <cstdlib>
#include <span>

#include "parse/encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace parse = poolscope::parse;
  using poolscope::HandleKind;
  if (size < 2) return 0;
  const std::size_t types_size = std::min<std::size_t>(size - 2, data[0] | (data[1] << 8));
  std::span<const std::byte> all(reinterpret_cast<const std::byte*>(data) + 2, size - 2);
  const auto types_buffer = all.first(types_size);
  const auto table_buffer = all.subspan(types_size);
  for (auto width : {parse::PointerWidth::k64, parse::PointerWidth::k32}) {
    parse::ObjectTypeTable types;
    if (auto decoded = parse::decode_object_types(types_buffer, width)) {
      for (const auto& type : decoded->types) {
        if (!parse::is_valid_utf8(type.name)) std::abort();
      }
      types = std::move(*decoded);
    }
    auto entries = parse::decode_handle_table(table_buffer, width);
    parse::LiveObjects live{.own_pid = 8, .own_process_handles = {4, 8}, .threads_known = true};
    auto census = parse::census_handles(table_buffer, width, types, &live);
    if (entries.has_value() != census.has_value()) std::abort();
    if (!census) continue;
    std::uint64_t total = 0;
    for (const auto& p : census->processes) {
      std::uint64_t sum = 0;
      for (auto n : p.kinds.count) sum += n;
      if (sum != p.total) std::abort();
      if (p.exited_process_handles > p.kinds[HandleKind::kProcess]) std::abort();
      if (p.exited_thread_handles > p.kinds[HandleKind::kThread]) std::abort();
      total += p.total;
    }
    if (total != census->handles || census->handles > entries->size()) std::abort();
  }
  return 0;
}
