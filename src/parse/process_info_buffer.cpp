// Decoder for SystemProcessInformation buffers. Every read is bounds-checked before it is made and
// values are assembled little-endian byte by byte, so host byte order and alignment do not matter.
#include "parse/process_info_buffer.h"

#include "core/bytes.h"
#include "core/names.h"
#include "parse/encoding.h"

namespace poolscope::parse {

namespace {

unexpected<Error> bad_buffer(std::string message, PointerWidth width) {
  return make_error(ErrorCode::kInput, "SystemProcessInformation (" +
                                           std::string(width == PointerWidth::k64 ? "x64" : "x86") +
                                           " layout): " + std::move(message));
}

unexpected<Error> short_record(std::span<const std::byte> buffer, std::size_t offset,
                               const ProcessInfoLayout& layout, PointerWidth width) {
  return bad_buffer("the record at offset " + std::to_string(offset) + " needs " +
                        std::to_string(layout.record_size) + " bytes but the buffer has " +
                        std::to_string(buffer.size() - offset) + " left",
                    width);
}

unexpected<Error> bad_next(std::span<const std::byte> buffer, std::size_t offset,
                           std::uint64_t next, const ProcessInfoLayout& layout,
                           PointerWidth width) {
  return bad_buffer("NextEntryOffset " + std::to_string(next) + " at offset " +
                        std::to_string(offset) + " must be at least " +
                        std::to_string(layout.record_size) + " and stay inside the " +
                        std::to_string(buffer.size()) + "-byte buffer",
                    width);
}

std::string hex(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4)
    text[static_cast<std::size_t>(i)] = kDigits[value & 0xF];
  return text;
}

}  // namespace

ProcessInfoLayout process_info_layout(PointerWidth width) {
  if (width == PointerWidth::k64) {
    return ProcessInfoLayout{.create_time = 32,
                             .image_name_length = 56,
                             .image_name_buffer = 64,
                             .unique_process_id = 80,
                             .inherited_from_process_id = 88,
                             .handle_count = 96,
                             .quota_paged_pool_usage = 160,
                             .quota_nonpaged_pool_usage = 176,
                             .record_size = 256};
  }
  return ProcessInfoLayout{.create_time = 32,
                           .image_name_length = 56,
                           .image_name_buffer = 60,
                           .unique_process_id = 68,
                           .inherited_from_process_id = 72,
                           .handle_count = 76,
                           .quota_paged_pool_usage = 112,
                           .quota_nonpaged_pool_usage = 120,
                           .record_size = 184};
}

Result<std::vector<ProcessFacts>> decode_process_info_buffer(std::span<const std::byte> buffer,
                                                             PointerWidth width,
                                                             std::uint64_t base_address) {
  std::vector<ProcessFacts> processes;
  if (buffer.empty()) return processes;
  const ProcessInfoLayout layout = process_info_layout(width);
  const std::size_t pointer = width == PointerWidth::k64 ? 8 : 4;
  const std::uint64_t pointer_mask = width == PointerWidth::k64 ? ~std::uint64_t{0} : 0xFFFFFFFFu;
  std::size_t offset = 0;
  for (;;) {
    if (buffer.size() - offset < layout.record_size) {
      return short_record(buffer, offset, layout, width);
    }
    ProcessFacts facts;
    facts.pid = load_le(buffer, offset + layout.unique_process_id, pointer);
    facts.parent_pid = load_le(buffer, offset + layout.inherited_from_process_id, pointer);
    facts.start_time = load_le(buffer, offset + layout.create_time, 8);
    facts.handle_count = load_le(buffer, offset + layout.handle_count, 4);
    facts.threads = load_le(buffer, offset + 4, 4);  // NumberOfThreads, after NextEntryOffset
    facts.paged_pool_quota_bytes = load_le(buffer, offset + layout.quota_paged_pool_usage, pointer);
    facts.nonpaged_pool_quota_bytes =
        load_le(buffer, offset + layout.quota_nonpaged_pool_usage, pointer);

    const std::uint64_t name_length = load_le(buffer, offset + layout.image_name_length, 2);
    const std::uint64_t name_pointer = load_le(buffer, offset + layout.image_name_buffer, pointer);
    if (name_length % 2 != 0) {
      return bad_buffer("pid " + std::to_string(facts.pid) + ": ImageName.Length " +
                            std::to_string(name_length) + " is odd (UTF-16 is 2 bytes a unit)",
                        width);
    }
    if (name_length != 0) {
      // Modular subtraction in the caller's pointer width: a name below base_address wraps to a
      // huge offset and fails the bounds check instead of reading before the buffer.
      const std::uint64_t name_offset = (name_pointer - base_address) & pointer_mask;
      if (name_pointer == 0 || name_offset > buffer.size() ||
          name_length > buffer.size() - name_offset) {
        return bad_buffer("pid " + std::to_string(facts.pid) + ": ImageName.Buffer 0x" +
                              hex(name_pointer) + " with Length " + std::to_string(name_length) +
                              " is not inside the buffer (is the base address right?)",
                          width);
      }
      facts.name = utf16le_to_utf8(buffer.subspan(name_offset, name_length));
      cap_counted_name(facts.name, CutName::kProcess);  // ImageName may be 32767 units long
    }
    processes.push_back(std::move(facts));

    const std::uint64_t next = load_le(buffer, offset, 4);
    if (next == 0) break;
    if (next < layout.record_size || next > buffer.size() - offset) {
      return bad_next(buffer, offset, next, layout, width);
    }
    offset += next;
  }
  return processes;
}

Result<std::vector<ThreadIdentity>> decode_process_threads(std::span<const std::byte> buffer,
                                                           PointerWidth width) {
  std::vector<ThreadIdentity> threads;
  if (buffer.empty()) return threads;
  const ProcessInfoLayout layout = process_info_layout(width);
  const bool x64 = width == PointerWidth::k64;
  const std::size_t pointer = x64 ? 8 : 4;
  const std::size_t thread_size = x64 ? 80 : 64;
  const std::size_t client_process = x64 ? 40 : 32;
  const std::size_t client_thread = x64 ? 48 : 36;
  std::size_t offset = 0;
  for (;;) {
    if (buffer.size() - offset < layout.record_size) {
      return short_record(buffer, offset, layout, width);
    }
    const std::uint64_t next = load_le(buffer, offset, 4);
    if (next != 0 && (next < layout.record_size || next > buffer.size() - offset)) {
      return bad_next(buffer, offset, next, layout, width);
    }
    const std::uint64_t pid = load_le(buffer, offset + layout.unique_process_id, pointer);
    const std::uint64_t count = load_le(buffer, offset + 4, 4);
    const std::size_t room = (next != 0 ? next : buffer.size() - offset) - layout.record_size;
    if (count > room / thread_size) {
      return bad_buffer("pid " + std::to_string(pid) + ": NumberOfThreads " +
                            std::to_string(count) + " (" + std::to_string(thread_size) +
                            " bytes each) does not fit in the " + std::to_string(room) +
                            " bytes after the record",
                        width);
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::size_t at =
          offset + layout.record_size + static_cast<std::size_t>(i) * thread_size;
      threads.push_back(ThreadIdentity{.pid = load_le(buffer, at + client_process, pointer),
                                       .tid = load_le(buffer, at + client_thread, pointer),
                                       .create_time = load_le(buffer, at + 16, 8)});
    }
    if (next == 0) break;
    offset += next;
  }
  return threads;
}

}  // namespace poolscope::parse
