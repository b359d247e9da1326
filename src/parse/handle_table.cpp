// Decoders for the system handle table and the object type names. Every read is bounds-checked
// before it is made; values are assembled little-endian, so host byte order and alignment do not
// matter. The census reads fields with memcpy (one load each) because a busy server's table has
// millions of entries.
#include "parse/handle_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_set>

#include "core/forward_error.h"
#include "parse/encoding.h"

namespace poolscope::parse {

namespace {

template <class T>
T load_le(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  if constexpr (std::endian::native == std::endian::big) value = std::byteswap(value);
  return value;
}

std::uint64_t load_pointer(const std::byte* p, PointerWidth width) {
  return width == PointerWidth::k64 ? load_le<std::uint64_t>(p) : load_le<std::uint32_t>(p);
}

std::string width_name(PointerWidth width) {
  return width == PointerWidth::k64 ? "x64" : "x86";
}

unexpected<Error> bad_table(std::string message, PointerWidth width) {
  return make_error(ErrorCode::kInput, "SystemExtendedHandleInformation (" + width_name(width) +
                                           " layout): " + std::move(message));
}

unexpected<Error> bad_types(std::string message, PointerWidth width) {
  return make_error(ErrorCode::kInput, "ObjectTypesInformation (" + width_name(width) +
                                           " layout): " + std::move(message));
}

// The entry count, checked against the buffer.
Result<std::size_t> handle_count(std::span<const std::byte> buffer, PointerWidth width,
                                 const HandleTableLayout& layout) {
  if (buffer.size() < layout.header_size) {
    return bad_table("the buffer has " + std::to_string(buffer.size()) + " bytes, less than the " +
                         std::to_string(layout.header_size) + "-byte header",
                     width);
  }
  const std::uint64_t count = load_pointer(buffer.data(), width);
  const std::uint64_t room = (buffer.size() - layout.header_size) / layout.entry_size;
  if (count > room) {
    return bad_table("NumberOfHandles " + std::to_string(count) + " needs " +
                         std::to_string(count) + " x " + std::to_string(layout.entry_size) +
                         " bytes but the buffer has room for " + std::to_string(room),
                     width);
  }
  return static_cast<std::size_t>(count);
}

HandleEntry entry_at(const std::byte* p, PointerWidth width, const HandleTableLayout& layout) {
  HandleEntry e;
  e.object = load_pointer(p + layout.object, width);
  e.pid = load_pointer(p + layout.unique_process_id, width);
  e.handle = load_pointer(p + layout.handle_value, width);
  e.granted_access = load_le<std::uint32_t>(p + layout.granted_access);
  e.type_index = load_le<std::uint16_t>(p + layout.object_type_index);
  e.attributes = load_le<std::uint32_t>(p + layout.handle_attributes);
  return e;
}

}  // namespace

HandleTableLayout handle_table_layout(PointerWidth width) {
  if (width == PointerWidth::k64) {
    return HandleTableLayout{.header_size = 16,
                             .entry_size = 40,
                             .object = 0,
                             .unique_process_id = 8,
                             .handle_value = 16,
                             .granted_access = 24,
                             .object_type_index = 30,
                             .handle_attributes = 32};
  }
  return HandleTableLayout{.header_size = 8,
                           .entry_size = 28,
                           .object = 0,
                           .unique_process_id = 4,
                           .handle_value = 8,
                           .granted_access = 12,
                           .object_type_index = 18,
                           .handle_attributes = 20};
}

ObjectTypeLayout object_type_layout(PointerWidth width) {
  if (width == PointerWidth::k64) {
    return ObjectTypeLayout{.first_entry = 8,
                            .name_length = 0,
                            .name_maximum_length = 2,
                            .name_buffer = 8,
                            .total_objects = 16,
                            .total_handles = 20,
                            .type_index = 90,
                            .entry_size = 104};
  }
  return ObjectTypeLayout{.first_entry = 4,
                          .name_length = 0,
                          .name_maximum_length = 2,
                          .name_buffer = 4,
                          .total_objects = 8,
                          .total_handles = 12,
                          .type_index = 82,
                          .entry_size = 96};
}

Result<std::vector<HandleEntry>> decode_handle_table(std::span<const std::byte> buffer,
                                                     PointerWidth width) {
  const HandleTableLayout layout = handle_table_layout(width);
  auto count = handle_count(buffer, width, layout);
  if (!count) return forward_error(count);
  std::vector<HandleEntry> entries;
  entries.reserve(*count);
  for (std::size_t i = 0; i < *count; ++i) {
    entries.push_back(
        entry_at(buffer.data() + layout.header_size + i * layout.entry_size, width, layout));
  }
  return entries;
}

std::string_view ObjectTypeTable::name_of(std::uint16_t index) const {
  for (const ObjectType& type : types) {
    if (type.index == index) return type.name;
  }
  return {};
}

Result<ObjectTypeTable> decode_object_types(std::span<const std::byte> buffer, PointerWidth width) {
  const ObjectTypeLayout layout = object_type_layout(width);
  const std::size_t align = width == PointerWidth::k64 ? 8 : 4;
  if (buffer.size() < 4) return bad_types("the buffer is shorter than NumberOfTypes", width);
  const std::uint32_t count = load_le<std::uint32_t>(buffer.data());
  // Each entry takes at least entry_size bytes: a count that cannot fit is refused before any
  // allocation.
  if (count > buffer.size() / layout.entry_size) {
    return bad_types("NumberOfTypes " + std::to_string(count) + " cannot fit in " +
                         std::to_string(buffer.size()) + " bytes",
                     width);
  }
  ObjectTypeTable table;
  table.types.reserve(count);
  std::size_t offset = layout.first_entry;
  bool any_index = false;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (offset > buffer.size() || buffer.size() - offset < layout.entry_size) {
      return bad_types("type " + std::to_string(i) + " at offset " + std::to_string(offset) +
                           " does not fit in the " + std::to_string(buffer.size()) + "-byte buffer",
                       width);
    }
    const std::byte* p = buffer.data() + offset;
    const std::uint16_t length = load_le<std::uint16_t>(p + layout.name_length);
    const std::uint16_t maximum = load_le<std::uint16_t>(p + layout.name_maximum_length);
    if (length % 2 != 0 || length > maximum) {
      return bad_types("type " + std::to_string(i) + ": TypeName.Length " + std::to_string(length) +
                           " is odd or above MaximumLength " + std::to_string(maximum),
                       width);
    }
    const std::size_t name_offset = offset + layout.entry_size;
    if (buffer.size() - name_offset < maximum) {
      return bad_types("type " + std::to_string(i) + ": its " + std::to_string(maximum) +
                           "-byte name leaves the buffer",
                       width);
    }
    ObjectType type;
    type.name = utf16le_to_utf8(buffer.subspan(name_offset, length));
    type.index = std::to_integer<std::uint8_t>(p[layout.type_index]);
    type.total_objects = load_le<std::uint32_t>(p + layout.total_objects);
    type.total_handles = load_le<std::uint32_t>(p + layout.total_handles);
    any_index = any_index || type.index != 0;
    table.types.push_back(std::move(type));
    offset = name_offset + (static_cast<std::size_t>(maximum) + align - 1) / align * align;
  }
  if (!any_index) {
    for (std::size_t i = 0; i < table.types.size(); ++i) {
      table.types[i].index = static_cast<std::uint16_t>(i + 2);
    }
  }
  table.kind_by_index.assign(256, HandleKind::kOther);
  std::vector<bool> seen(256 + table.types.size() + 2, false);
  for (const ObjectType& type : table.types) {
    if (seen[type.index]) {
      return bad_types("two types have index " + std::to_string(type.index), width);
    }
    seen[type.index] = true;
    if (type.index < table.kind_by_index.size()) {
      table.kind_by_index[type.index] = handle_kind_of_type_name(type.name);
    }
  }
  return table;
}

std::optional<int> type_index_shift(std::span<const std::byte> buffer, PointerWidth width,
                                    const ObjectTypeTable& types, const LiveObjects& live) {
  const HandleTableLayout layout = handle_table_layout(width);
  auto count = handle_count(buffer, width, layout);
  if (!count || live.own_process_handles.empty()) return std::nullopt;
  std::optional<int> process_index;
  for (const ObjectType& type : types.types) {
    if (handle_kind_of_type_name(type.name) == HandleKind::kProcess) process_index = type.index;
  }
  if (!process_index) return std::nullopt;
  const std::unordered_set<std::uint64_t> probes(live.own_process_handles.begin(),
                                                 live.own_process_handles.end());
  std::optional<int> shift;
  const std::byte* p = buffer.data() + layout.header_size;
  for (std::size_t i = 0; i < *count; ++i, p += layout.entry_size) {
    if (load_pointer(p + layout.unique_process_id, width) != live.own_pid) continue;
    if (!probes.contains(load_pointer(p + layout.handle_value, width))) continue;
    const int seen = load_le<std::uint16_t>(p + layout.object_type_index) - *process_index;
    if (shift && *shift != seen) return std::nullopt;
    shift = seen;
  }
  return shift;
}

void shift_type_indexes(ObjectTypeTable& types, int shift) {
  std::vector<ObjectType> kept;
  kept.reserve(types.types.size());
  types.kind_by_index.assign(256, HandleKind::kOther);
  for (ObjectType& type : types.types) {
    const int index = type.index + shift;
    if (index < 0 || index > 255) continue;
    type.index = static_cast<std::uint16_t>(index);
    types.kind_by_index[type.index] = handle_kind_of_type_name(type.name);
    kept.push_back(std::move(type));
  }
  types.types = std::move(kept);
}

Result<HandleCensus> census_handles(std::span<const std::byte> buffer, PointerWidth width,
                                    const ObjectTypeTable& types, const LiveObjects* live) {
  const HandleTableLayout layout = handle_table_layout(width);
  auto count = handle_count(buffer, width, layout);
  if (!count) return forward_error(count);

  HandleCensus census;
  census.exited_processes_known = live != nullptr;
  census.exited_threads_known = live != nullptr && live->threads_known;
  // Kind per type index, flattened (the index is a USHORT in the entry).
  std::vector<std::uint8_t> kind_of(65536);
  std::vector<std::uint8_t> known(65536, 0);
  for (std::size_t i = 0; i < 65536; ++i) {
    kind_of[i] = static_cast<std::uint8_t>(types.kind_of(static_cast<std::uint16_t>(i)));
  }
  for (const ObjectType& type : types.types) known[type.index] = true;

  const std::unordered_set<std::uint64_t> own_process(
      live ? live->own_process_handles.begin() : std::vector<std::uint64_t>::const_iterator{},
      live ? live->own_process_handles.end() : std::vector<std::uint64_t>::const_iterator{});
  const std::unordered_set<std::uint64_t> own_thread(
      live ? live->own_thread_handles.begin() : std::vector<std::uint64_t>::const_iterator{},
      live ? live->own_thread_handles.end() : std::vector<std::uint64_t>::const_iterator{});

  // Process and Thread references: (object, index of the holder in census.processes).
  struct Reference {
    std::uint64_t object;
    std::uint32_t holder;
    bool thread;
  };
  std::vector<Reference> references;
  std::unordered_set<std::uint64_t> live_processes, live_threads;

  std::unordered_map<std::uint64_t, std::uint32_t> slot_of;
  std::uint64_t last_pid = ~std::uint64_t{0};
  std::uint32_t last_slot = 0;
  const std::byte* p = buffer.data() + layout.header_size;
  bool any_object = false;
  const auto process_kind = static_cast<std::uint8_t>(HandleKind::kProcess);
  const auto thread_kind = static_cast<std::uint8_t>(HandleKind::kThread);
  for (std::size_t i = 0; i < *count; ++i, p += layout.entry_size) {
    const std::uint64_t pid = load_pointer(p + layout.unique_process_id, width);
    const std::uint16_t type_index = load_le<std::uint16_t>(p + layout.object_type_index);
    const std::uint8_t kind = kind_of[type_index];
    if (live && pid == live->own_pid && (kind == process_kind || kind == thread_kind)) {
      const std::uint64_t handle = load_pointer(p + layout.handle_value, width);
      const std::uint64_t object = load_pointer(p + layout.object, width);
      if (kind == process_kind && own_process.contains(handle)) {
        live_processes.insert(object);
        continue;
      }
      if (kind == thread_kind && own_thread.contains(handle)) {
        live_threads.insert(object);
        continue;
      }
    }
    // Handles come grouped by process: the map is consulted once per process, not per handle.
    // (Not a sentinel pid: a damaged table's first entry can hold any value, ~0 included.)
    if (census.processes.empty() || pid != last_pid) {
      auto [it, inserted] =
          slot_of.try_emplace(pid, static_cast<std::uint32_t>(census.processes.size()));
      if (inserted) census.processes.push_back(ProcessHandleCensus{.pid = pid});
      last_pid = pid;
      last_slot = it->second;
    }
    ProcessHandleCensus& holder = census.processes[last_slot];
    ++holder.kinds.count[kind];
    ++holder.total;
    if (!known[type_index]) ++census.unknown_type_handles;
    if (kind == process_kind || kind == thread_kind) {
      references.push_back(
          Reference{load_pointer(p + layout.object, width), last_slot, kind == thread_kind});
    }
    any_object = any_object || load_pointer(p + layout.object, width) != 0;
  }
  census.object_addresses_hidden = *count > 0 && !any_object;
  if (census.object_addresses_hidden) {
    census.exited_processes_known = false;
    census.exited_threads_known = false;
  }
  census.handles = 0;
  for (const ProcessHandleCensus& holder : census.processes) census.handles += holder.total;

  std::unordered_set<std::uint64_t> process_objects, thread_objects, exited_processes,
      exited_threads;
  for (const Reference& ref : references) {
    ProcessHandleCensus& holder = census.processes[ref.holder];
    if (!ref.thread) {
      process_objects.insert(ref.object);
      if (census.exited_processes_known && !live_processes.contains(ref.object)) {
        ++holder.exited_process_handles;
        exited_processes.insert(ref.object);
      }
    } else {
      thread_objects.insert(ref.object);
      if (census.exited_threads_known && !live_threads.contains(ref.object)) {
        ++holder.exited_thread_handles;
        exited_threads.insert(ref.object);
      }
    }
  }
  census.process_objects = process_objects.size();
  census.exited_process_objects = exited_processes.size();
  census.live_process_objects = census.process_objects - census.exited_process_objects;
  census.thread_objects = thread_objects.size();
  census.exited_thread_objects = exited_threads.size();
  if (census.exited_processes_known && census.exited_process_objects > live->processes_not_opened) {
    census.exited_process_objects_at_least =
        census.exited_process_objects - live->processes_not_opened;
  }
  std::sort(
      census.processes.begin(), census.processes.end(),
      [](const ProcessHandleCensus& a, const ProcessHandleCensus& b) { return a.pid < b.pid; });
  return census;
}

void apply_handle_census(const HandleCensus& census, std::vector<ProcessFacts>& processes) {
  auto it = census.processes.begin();
  // Both sorted by pid when they come from a collector; fall back to a search otherwise.
  for (ProcessFacts& facts : processes) {
    if (it == census.processes.end() || it->pid > facts.pid) {
      it = std::lower_bound(
          census.processes.begin(), census.processes.end(), facts.pid,
          [](const ProcessHandleCensus& c, std::uint64_t pid) { return c.pid < pid; });
    }
    while (it != census.processes.end() && it->pid < facts.pid) ++it;
    const bool found = it != census.processes.end() && it->pid == facts.pid;
    facts.handle_kinds = found ? it->kinds : HandleCounts{};
    if (census.exited_processes_known) {
      facts.exited_process_handles = found ? it->exited_process_handles : 0;
    }
    if (census.exited_threads_known) {
      facts.exited_thread_handles = found ? it->exited_thread_handles : 0;
    }
  }
}

}  // namespace poolscope::parse
