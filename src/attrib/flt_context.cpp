// Minifilter context registrations (flt_context.h).
#include "attrib/flt_context.h"

#include <cstdio>
#include <map>

#include "core/bytes.h"
#include "parse/text.h"

namespace poolscope::attrib {

namespace {

constexpr std::uint16_t kContextEnd = 0xFFFF;

const char* context_name(std::uint16_t type) {
  switch (type) {
    case 0x01:
      return "volume";
    case 0x02:
      return "instance";
    case 0x04:
      return "file";
    case 0x08:
      return "stream";
    case 0x10:
      return "stream handle";
    case 0x20:
      return "transaction";
    case 0x40:
      return "section";
    default:
      return nullptr;
  }
}

struct Layout {
  std::size_t entry, ptr, cleanup, size, tag, allocate, free, reserved;
};
constexpr Layout kX64{56, 8, 8, 16, 24, 32, 40, 48};
constexpr Layout kX86{28, 4, 4, 8, 12, 16, 20, 24};

struct Entry {
  std::uint16_t type = 0;
  std::uint32_t tag = 0;
};

bool zero(parse::ByteSpan bytes, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (bytes[i] != std::byte{0}) return false;
  }
  return true;
}

// The entry at bytes[at], or nullopt when it is not one (ContextType kContextEnd: type only).
std::optional<Entry> entry_at(parse::ByteSpan bytes, std::size_t at, const Layout& l,
                              std::uint64_t image_lo, std::uint64_t image_hi) {
  if (at + l.entry > bytes.size()) return std::nullopt;
  Entry e;
  e.type = load_le16(bytes, at);
  if (e.type == kContextEnd) return e;
  if (context_name(e.type) == nullptr || load_le16(bytes, at + 2) > 1) return std::nullopt;
  if (!zero(bytes, at + 4, at + l.cleanup)) return std::nullopt;
  const auto pointer_ok = [&](std::size_t offset) {
    const std::uint64_t p = load_le(bytes, at + offset, l.ptr);
    return p == 0 || (p >= image_lo && p < image_hi);
  };
  if (!pointer_ok(l.cleanup) || !pointer_ok(l.allocate) || !pointer_ok(l.free)) return std::nullopt;
  if (load_le(bytes, at + l.reserved, l.ptr) != 0) return std::nullopt;
  const std::uint64_t size = load_le(bytes, at + l.size, l.ptr);
  const std::uint64_t variable = l.ptr == 8 ? ~std::uint64_t{0} : 0xFFFFFFFFu;
  if (size > (16u << 20) && size != variable) return std::nullopt;  // FLT_VARIABLE_SIZED_CONTEXTS
  e.tag = load_le32(bytes, at + l.tag);
  if (!is_printable_tag(e.tag)) return std::nullopt;
  if (l.ptr == 8 && !zero(bytes, at + l.tag + 4, at + l.allocate)) return std::nullopt;
  return e;
}

}  // namespace

bool imports_flt_contexts(const parse::PeImage& image) {
  return parse::pe_find_import(image, "fltmgr.sys", "FltAllocateContext") != nullptr;
}

std::vector<DriverTag> flt_context_tags(const parse::PeImage& image, parse::ByteSpan data) {
  std::vector<DriverTag> out;
  if (!imports_flt_contexts(image)) return out;
  const bool x64 = image.machine == parse::kMachineAmd64;
  const Layout& l = x64 ? kX64 : kX86;
  const std::uint64_t lo = image.image_base, hi = image.image_base + image.size_of_image;
  std::map<std::uint32_t, DriverTag> by_tag;
  for (const auto& section : image.sections) {
    const parse::ByteSpan bytes = parse::pe_section_bytes(section, data);
    // Section starts are page-aligned RVAs: the array's alignment is its offset's.
    for (std::size_t at = 0; at + l.entry <= bytes.size(); at += l.ptr) {
      std::vector<Entry> run;
      std::size_t next = at;
      std::optional<Entry> e;
      while ((e = entry_at(bytes, next, l, lo, hi)) && e->type != kContextEnd) {
        run.push_back(*e);
        next += l.entry;
      }
      if (!e || run.empty() || !zero(bytes, next + 2, next + l.entry)) continue;
      char where[64];
      std::snprintf(where, sizeof where, "RVA 0x%llx",
                    static_cast<unsigned long long>(section.virtual_address + at));
      for (const auto& entry : run) {
        auto [it, fresh] = by_tag.try_emplace(entry.tag);
        DriverTag& tag = it->second;
        if (fresh) {
          tag.tag = tag_from_le32(entry.tag);
          tag.confidence = Confidence::kHigh;
          tag.note = std::string("FltAllocateContext: the filter's FLT_CONTEXT_REGISTRATION at ") +
                     where + " gives this tag to its " + context_name(entry.type) + " contexts";
        } else if (tag.note.find(context_name(entry.type)) == std::string::npos) {
          tag.note += std::string(", ") + context_name(entry.type) + " contexts";
        }
      }
      at = next;  // past the array (the loop adds the alignment step)
    }
  }
  for (auto& [value, tag] : by_tag) out.push_back(std::move(tag));
  return out;
}

}  // namespace poolscope::attrib
