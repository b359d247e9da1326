// Builds small PE32/PE32+ images in memory for the PE reader tests and the fuzz corpus: sections,
// import / delay-load / export tables, a version resource and an Authenticode-shaped PKCS#7 blob.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace poolscope::testing {

using Bytes = std::vector<std::byte>;

inline void put_u16(Bytes& b, std::size_t at, std::uint16_t v) {
  if (b.size() < at + 2) b.resize(at + 2);
  b[at] = std::byte(v & 0xFF);
  b[at + 1] = std::byte(v >> 8);
}
inline void put_u32(Bytes& b, std::size_t at, std::uint32_t v) {
  put_u16(b, at, static_cast<std::uint16_t>(v & 0xFFFF));
  put_u16(b, at + 2, static_cast<std::uint16_t>(v >> 16));
}
inline void put_u64(Bytes& b, std::size_t at, std::uint64_t v) {
  put_u32(b, at, static_cast<std::uint32_t>(v));
  put_u32(b, at + 4, static_cast<std::uint32_t>(v >> 32));
}
inline std::uint32_t get_u32(const Bytes& b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
         (static_cast<std::uint32_t>(b[at + 2]) << 16) |
         (static_cast<std::uint32_t>(b[at + 3]) << 24);
}
inline Bytes ascii(std::string_view s) {
  Bytes out;
  for (char c : s) out.push_back(static_cast<std::byte>(c));
  return out;
}

// A section under construction. Its RVA is fixed when it is added (sections are 64 KB apart), so
// tables can point at each other while being written.
struct PeSectionBuild {
  std::string name;
  std::uint32_t rva = 0;
  std::uint32_t characteristics = 0;
  Bytes data;
  std::optional<std::uint32_t> virtual_size;  // default: data size
  std::optional<std::uint32_t> raw_size;      // default: data size rounded up to 0x200
  std::optional<std::uint32_t> raw_offset;    // default: laid out after the previous section

  std::uint32_t here() const { return rva + static_cast<std::uint32_t>(data.size()); }
  void align(std::size_t n) {
    while (data.size() % n != 0) data.push_back(std::byte{0});
  }
  std::uint32_t put(const Bytes& bytes) {
    std::uint32_t at = here();
    data.insert(data.end(), bytes.begin(), bytes.end());
    return at;
  }
  std::uint32_t put_zeros(std::size_t n) {
    std::uint32_t at = here();
    data.resize(data.size() + n);
    return at;
  }
  std::uint32_t put_cstring(std::string_view s) {
    Bytes b = ascii(s);
    b.push_back(std::byte{0});
    return put(b);
  }
  void set_u16(std::uint32_t at_rva, std::uint16_t v) { put_u16(data, at_rva - rva, v); }
  void set_u32(std::uint32_t at_rva, std::uint32_t v) { put_u32(data, at_rva - rva, v); }
  void set_u64(std::uint32_t at_rva, std::uint64_t v) { put_u64(data, at_rva - rva, v); }
};

// An imported function: by name (with a hint) or by ordinal.
struct ImportName {
  std::string name;
  std::uint16_t hint = 0;
};
using ImportRef = std::variant<ImportName, std::uint16_t>;

struct ImportSpec {
  std::string dll;
  std::vector<ImportRef> functions;
  bool delay_load = false;
  bool no_lookup_table = false;       // OriginalFirstThunk = 0: names only in the IAT (old linkers)
  bool delay_uses_addresses = false;  // delay-load attributes 0: fields are VAs, not RVAs
};

// The RVAs the builder chose, for exact assertions.
struct ImportLayout {
  std::vector<std::vector<std::uint32_t>> iat_rvas;     // per spec, per function
  std::vector<std::vector<std::uint32_t>> lookup_rvas;  // 0 when no lookup table
  std::uint32_t descriptors_rva = 0;
  std::uint32_t delay_descriptors_rva = 0;
};

struct ExportSpec {
  std::string name;       // empty: ordinal only
  std::uint32_t rva = 0;  // ignored when forwarder is set
  std::string forwarder;  // "NTOSKRNL.ExAllocatePool"
};

class PeBuilder {
 public:
  static constexpr std::uint32_t kPeOffset = 0x40;
  static constexpr std::uint32_t kFileHeader = kPeOffset + 4;
  static constexpr std::uint32_t kOptionalHeader = kFileHeader + 20;
  static constexpr std::uint32_t kHeadersSize = 0x400;

  explicit PeBuilder(bool pe32_plus = true, std::uint16_t machine = 0x8664)
      : pe32_plus_(pe32_plus), machine_(machine) {
    image_base_ = pe32_plus ? 0x140000000ull : 0x10000ull;
  }

  bool pe32_plus() const { return pe32_plus_; }
  std::uint64_t image_base() const { return image_base_; }
  std::uint32_t optional_header_size() const { return pe32_plus_ ? 240 : 224; }
  std::uint32_t section_table() const { return kOptionalHeader + optional_header_size(); }

  PeSectionBuild& add_section(std::string name, std::uint32_t characteristics) {
    PeSectionBuild s;
    s.name = std::move(name);
    s.rva = 0x1000 + 0x10000 * static_cast<std::uint32_t>(sections_.size());
    s.characteristics = characteristics;
    sections_.push_back(std::move(s));
    return sections_.back();
  }
  PeSectionBuild& section(std::size_t i) { return sections_.at(i); }

  void set_directory(std::size_t index, std::uint32_t rva, std::uint32_t size) {
    directories_.at(index) = {rva, size};
  }

  // A code section holding `code` (e.g. a `call [rip+X]` to an IAT slot).
  PeSectionBuild& add_code(const Bytes& code) {
    auto& text = add_section(".text", 0x60000020);
    text.put(code);
    entry_point_ = text.rva;
    return text;
  }

  ImportLayout add_imports(const std::vector<ImportSpec>& specs) {
    auto& s = add_section(".idata", 0xC0000040);
    const std::uint32_t width = pe32_plus_ ? 8 : 4;
    ImportLayout layout;
    std::vector<std::uint32_t> dll_names;
    std::vector<std::vector<std::uint64_t>> thunk_values;
    for (const auto& spec : specs) {
      dll_names.push_back(s.put_cstring(spec.dll));
      std::vector<std::uint64_t> values;
      for (const auto& f : spec.functions) {
        if (const auto* by_name = std::get_if<ImportName>(&f)) {
          s.align(2);
          std::uint32_t at = s.here();
          Bytes hint(2);
          put_u16(hint, 0, by_name->hint);
          s.put(hint);
          s.put_cstring(by_name->name);
          values.push_back(at);
        } else {
          const std::uint64_t flag = pe32_plus_ ? (1ull << 63) : (1ull << 31);
          values.push_back(flag | std::get<std::uint16_t>(f));
        }
      }
      thunk_values.push_back(std::move(values));
    }
    s.align(8);
    std::vector<std::uint32_t> lookups, iats;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto& values = thunk_values[i];
      std::uint32_t lookup = 0;
      if (!specs[i].no_lookup_table) {
        lookup = s.put_zeros(width * (values.size() + 1));
        for (std::size_t j = 0; j < values.size(); ++j)
          write_thunk(s, lookup + width * j, values[j]);
      }
      std::uint32_t iat = s.put_zeros(width * (values.size() + 1));
      for (std::size_t j = 0; j < values.size(); ++j) write_thunk(s, iat + width * j, values[j]);
      lookups.push_back(lookup);
      iats.push_back(iat);
      std::vector<std::uint32_t> iat_slots, lookup_slots;
      for (std::size_t j = 0; j < values.size(); ++j) {
        iat_slots.push_back(iat + width * static_cast<std::uint32_t>(j));
        lookup_slots.push_back(lookup ? lookup + width * static_cast<std::uint32_t>(j) : 0);
      }
      layout.iat_rvas.push_back(std::move(iat_slots));
      layout.lookup_rvas.push_back(std::move(lookup_slots));
    }
    s.align(4);
    std::size_t normal = 0, delayed = 0;
    for (const auto& spec : specs) (spec.delay_load ? delayed : normal)++;
    if (normal > 0) {
      layout.descriptors_rva = s.put_zeros(20 * (normal + 1));
      std::uint32_t d = layout.descriptors_rva;
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].delay_load) continue;
        s.set_u32(d, lookups[i]);
        s.set_u32(d + 12, dll_names[i]);
        s.set_u32(d + 16, iats[i]);
        d += 20;
      }
      set_directory(1, layout.descriptors_rva, static_cast<std::uint32_t>(20 * (normal + 1)));
    }
    if (delayed > 0) {
      layout.delay_descriptors_rva = s.put_zeros(32 * (delayed + 1));
      std::uint32_t d = layout.delay_descriptors_rva;
      for (std::size_t i = 0; i < specs.size(); ++i) {
        if (!specs[i].delay_load) continue;
        const bool va = specs[i].delay_uses_addresses;
        const auto addr = [&](std::uint32_t rva) {
          return va ? static_cast<std::uint32_t>(image_base_ + rva) : rva;
        };
        s.set_u32(d, va ? 0 : 1);
        s.set_u32(d + 4, addr(dll_names[i]));
        s.set_u32(d + 12, addr(iats[i]));
        s.set_u32(d + 16, addr(lookups[i]));
        d += 32;
      }
      set_directory(13, layout.delay_descriptors_rva,
                    static_cast<std::uint32_t>(32 * (delayed + 1)));
    }
    return layout;
  }

  // Exports in ordinal order starting at base; names sorted as the loader expects.
  void add_exports(std::string_view dll_name, std::uint32_t base,
                   const std::vector<ExportSpec>& exports) {
    auto& s = add_section(".edata", 0x40000040);
    const std::uint32_t dir = s.put_zeros(40);
    const std::uint32_t name = s.put_cstring(dll_name);
    std::vector<std::uint32_t> forwarders(exports.size(), 0);
    for (std::size_t i = 0; i < exports.size(); ++i) {
      if (!exports[i].forwarder.empty()) forwarders[i] = s.put_cstring(exports[i].forwarder);
    }
    std::vector<std::pair<std::string, std::uint16_t>> names;
    std::vector<std::uint32_t> name_rvas;
    for (std::size_t i = 0; i < exports.size(); ++i) {
      if (!exports[i].name.empty())
        names.emplace_back(exports[i].name, static_cast<std::uint16_t>(i));
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) name_rvas.push_back(s.put_cstring(n.first));
    s.align(4);
    const std::uint32_t functions = s.put_zeros(4 * exports.size());
    for (std::size_t i = 0; i < exports.size(); ++i) {
      s.set_u32(functions + 4 * static_cast<std::uint32_t>(i),
                forwarders[i] ? forwarders[i] : exports[i].rva);
    }
    const std::uint32_t name_table = s.put_zeros(4 * names.size());
    const std::uint32_t ordinal_table = s.put_zeros(2 * names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      s.set_u32(name_table + 4 * static_cast<std::uint32_t>(i), name_rvas[i]);
      s.set_u16(ordinal_table + 2 * static_cast<std::uint32_t>(i), names[i].second);
    }
    s.set_u32(dir + 12, name);
    s.set_u32(dir + 16, base);
    s.set_u32(dir + 20, static_cast<std::uint32_t>(exports.size()));
    s.set_u32(dir + 24, static_cast<std::uint32_t>(names.size()));
    s.set_u32(dir + 28, functions);
    s.set_u32(dir + 32, name_table);
    s.set_u32(dir + 36, ordinal_table);
    set_directory(0, dir, static_cast<std::uint32_t>(s.data.size()));
  }

  // A .rsrc section with one RT_VERSION resource holding `version` (see version_info()).
  void add_version_resource(const Bytes& version) {
    auto& s = add_section(".rsrc", 0x40000040);
    const auto directory = [&](std::uint32_t id, std::uint32_t target) {
      std::uint32_t at = s.put_zeros(16 + 8);
      s.set_u16(at + 14, 1);  // one ID entry
      s.set_u32(at + 16, id);
      s.set_u32(at + 20, target);
      return at;
    };
    // Offsets are relative to the section start; directories first, then the data entry.
    const std::uint32_t root = directory(16, 0x80000000u | 24);
    directory(1, 0x80000000u | 48);
    directory(0x409, 72);
    const std::uint32_t entry = s.put_zeros(16);
    s.align(4);
    const std::uint32_t data = s.put(version);
    s.set_u32(entry, data);
    s.set_u32(entry + 4, static_cast<std::uint32_t>(version.size()));
    set_directory(2, root, static_cast<std::uint32_t>(s.data.size()));
  }

  // Appends a WIN_CERTIFICATE (revision 0x200) holding der to the file, like signtool does.
  void set_signature(Bytes der, std::uint16_t certificate_type = 2) {
    signature_ = std::move(der);
    certificate_type_ = certificate_type;
  }

  Bytes build() const {
    const std::uint32_t table = section_table();
    if (table + 40 * sections_.size() > kHeadersSize) throw std::runtime_error("too many sections");
    Bytes out(kHeadersSize);
    out[0] = std::byte{'M'};
    out[1] = std::byte{'Z'};
    put_u32(out, 0x3c, kPeOffset);
    put_u32(out, kPeOffset, 0x00004550);
    put_u16(out, kFileHeader, machine_);
    put_u16(out, kFileHeader + 2, static_cast<std::uint16_t>(sections_.size()));
    put_u16(out, kFileHeader + 16, static_cast<std::uint16_t>(optional_header_size()));
    put_u16(out, kFileHeader + 18, pe32_plus_ ? 0x0022 : 0x0102);
    const std::uint32_t o = kOptionalHeader;
    put_u16(out, o, pe32_plus_ ? 0x20b : 0x10b);
    put_u32(out, o + 16, entry_point_);
    if (pe32_plus_) {
      put_u64(out, o + 24, image_base_);
    } else {
      put_u32(out, o + 28, static_cast<std::uint32_t>(image_base_));
    }
    put_u32(out, o + 32, 0x1000);
    put_u32(out, o + 36, 0x200);
    put_u32(out, o + 60, kHeadersSize);
    put_u16(out, o + 68, 1);  // native
    const std::uint32_t fixed = pe32_plus_ ? 112 : 96;
    put_u32(out, o + fixed - 4, 16);
    std::uint32_t image_end = 0x1000;
    std::uint32_t raw = kHeadersSize;
    for (std::size_t i = 0; i < sections_.size(); ++i) {
      const auto& s = sections_[i];
      const std::uint32_t size = static_cast<std::uint32_t>(s.data.size());
      const std::uint32_t raw_size = s.raw_size.value_or((size + 0x1FF) & ~0x1FFu);
      const std::uint32_t offset = s.raw_offset.value_or(raw);
      const std::uint32_t h = table + 40 * static_cast<std::uint32_t>(i);
      for (std::size_t k = 0; k < s.name.size() && k < 8; ++k) {
        out[h + k] = static_cast<std::byte>(s.name[k]);
      }
      put_u32(out, h + 8, s.virtual_size.value_or(size));
      put_u32(out, h + 12, s.rva);
      put_u32(out, h + 16, raw_size);
      put_u32(out, h + 20, offset);
      put_u32(out, h + 36, s.characteristics);
      if (!s.raw_offset) {
        if (out.size() < offset + ((size + 0x1FF) & ~0x1FFu))
          out.resize(offset + ((size + 0x1FF) & ~0x1FFu));
        std::copy(s.data.begin(), s.data.end(), out.begin() + offset);
        raw = offset + ((size + 0x1FF) & ~0x1FFu);
      }
      image_end = std::max<std::uint32_t>(image_end, (s.rva + size + 0xFFF) & ~0xFFFu);
    }
    put_u32(out, o + 56, image_end);
    auto directories = directories_;
    if (signature_) {
      while (out.size() % 8 != 0) out.push_back(std::byte{0});
      const std::uint32_t at = static_cast<std::uint32_t>(out.size());
      const std::uint32_t length = 8 + static_cast<std::uint32_t>(signature_->size());
      out.resize(at + 8);
      put_u32(out, at, length);
      put_u16(out, at + 4, 0x0200);
      put_u16(out, at + 6, certificate_type_);
      out.insert(out.end(), signature_->begin(), signature_->end());
      while (out.size() % 8 != 0) out.push_back(std::byte{0});
      directories[4] = {at, static_cast<std::uint32_t>(out.size()) - at};
    }
    for (std::size_t i = 0; i < 16; ++i) {
      put_u32(out, o + fixed + 8 * i, directories[i].first);
      put_u32(out, o + fixed + 8 * i + 4, directories[i].second);
    }
    return out;
  }

 private:
  void write_thunk(PeSectionBuild& s, std::uint32_t at, std::uint64_t value) const {
    if (pe32_plus_) {
      s.set_u64(at, value);
    } else {
      s.set_u32(at, static_cast<std::uint32_t>(value));
    }
  }

  bool pe32_plus_;
  std::uint16_t machine_;
  std::uint64_t image_base_;
  std::uint32_t entry_point_ = 0;
  std::vector<PeSectionBuild> sections_;
  std::array<std::pair<std::uint32_t, std::uint32_t>, 16> directories_{};
  std::optional<Bytes> signature_;
  std::uint16_t certificate_type_ = 2;
};

// ---- VS_VERSIONINFO -----------------------------------------------------------------------------

inline Bytes utf16(std::u16string_view s, bool nul = true) {
  Bytes out;
  for (char16_t c : s) {
    out.push_back(std::byte(c & 0xFF));
    out.push_back(std::byte(c >> 8));
  }
  if (nul) out.insert(out.end(), 2, std::byte{0});
  return out;
}

// One version block; children must each start 32-bit aligned (blocks are padded here).
inline Bytes version_block(std::u16string_view key, std::uint16_t type, const Bytes& value,
                           std::uint16_t value_length, const std::vector<Bytes>& children) {
  Bytes out(6);
  Bytes k = utf16(key);
  out.insert(out.end(), k.begin(), k.end());
  while (out.size() % 4 != 0) out.push_back(std::byte{0});
  out.insert(out.end(), value.begin(), value.end());
  for (const auto& child : children) {
    while (out.size() % 4 != 0) out.push_back(std::byte{0});
    out.insert(out.end(), child.begin(), child.end());
  }
  put_u16(out, 0, static_cast<std::uint16_t>(out.size()));
  put_u16(out, 2, value_length);
  put_u16(out, 4, type);
  return out;
}

inline Bytes version_string(std::u16string_view key, std::u16string_view value) {
  return version_block(key, 1, utf16(value), static_cast<std::uint16_t>(value.size() + 1), {});
}

struct VersionTable {
  std::u16string language;  // u"040904b0"
  std::vector<std::pair<std::u16string, std::u16string>> strings;
};

// A VS_VERSIONINFO with VS_FIXEDFILEINFO (file version a.b.c.d), StringFileInfo tables and, when
// translation is set, a VarFileInfo Translation (language, codepage).
inline Bytes version_info(std::array<std::uint16_t, 4> file_version,
                          const std::vector<VersionTable>& tables,
                          std::optional<std::pair<std::uint16_t, std::uint16_t>> translation) {
  Bytes fixed(52);
  put_u32(fixed, 0, 0xFEEF04BD);
  put_u32(fixed, 4, 0x00010000);
  put_u32(fixed, 8, (std::uint32_t{file_version[0]} << 16) | file_version[1]);
  put_u32(fixed, 12, (std::uint32_t{file_version[2]} << 16) | file_version[3]);
  put_u32(fixed, 16, (std::uint32_t{file_version[0]} << 16) | file_version[1]);
  put_u32(fixed, 20, (std::uint32_t{file_version[2]} << 16) | file_version[3]);
  put_u32(fixed, 32, 0x00040004);  // VOS_NT_WINDOWS32
  put_u32(fixed, 36, 3);           // VFT_DRV
  put_u32(fixed, 40, 7);           // VFT2_DRV_SYSTEM
  std::vector<Bytes> table_blocks;
  for (const auto& t : tables) {
    std::vector<Bytes> strings;
    for (const auto& [k, v] : t.strings) strings.push_back(version_string(k, v));
    table_blocks.push_back(version_block(t.language, 1, {}, 0, strings));
  }
  std::vector<Bytes> children = {version_block(u"StringFileInfo", 1, {}, 0, table_blocks)};
  if (translation) {
    Bytes value(4);
    put_u16(value, 0, translation->first);
    put_u16(value, 2, translation->second);
    children.push_back(
        version_block(u"VarFileInfo", 1, {}, 0, {version_block(u"Translation", 0, value, 4, {})}));
  }
  return version_block(u"VS_VERSION_INFO", 0, fixed, 52, children);
}

// ---- DER / PKCS#7 -------------------------------------------------------------------------------

inline Bytes der(std::uint8_t tag, const Bytes& content) {
  Bytes out{std::byte{tag}};
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(std::byte(n));
  } else if (n < 0x100) {
    out.push_back(std::byte{0x81});
    out.push_back(std::byte(n));
  } else {
    out.push_back(std::byte{0x82});
    out.push_back(std::byte(n >> 8));
    out.push_back(std::byte(n & 0xFF));
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
inline Bytes cat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline Bytes seq(const std::vector<Bytes>& parts) {
  return der(0x30, cat(parts));
}
inline Bytes set_of(const std::vector<Bytes>& parts) {
  return der(0x31, cat(parts));
}
inline Bytes raw(std::initializer_list<std::uint8_t> bytes) {
  Bytes out;
  for (auto b : bytes) out.push_back(std::byte{b});
  return out;
}
inline Bytes oid(std::initializer_list<std::uint8_t> bytes) {
  return der(0x06, raw(bytes));
}
inline Bytes integer(std::initializer_list<std::uint8_t> bytes) {
  return der(0x02, raw(bytes));
}

// An X.501 Name: each pair is (attribute OID last byte under 2.5.4, DER string TLV).
inline Bytes x501_name(const std::vector<std::pair<std::uint8_t, Bytes>>& attributes) {
  std::vector<Bytes> rdns;
  for (const auto& [type, value] : attributes) {
    rdns.push_back(set_of({seq({oid({0x55, 0x04, type}), value})}));
  }
  return seq(rdns);
}
inline Bytes utf8_string(std::string_view s) {
  return der(0x0C, ascii(s));
}
inline Bytes printable_string(std::string_view s) {
  return der(0x13, ascii(s));
}

inline Bytes certificate(const Bytes& serial, const Bytes& issuer, const Bytes& subject,
                         std::optional<Bytes> subject_key_id = std::nullopt) {
  const Bytes algorithm = seq({oid({0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B})});
  const Bytes validity =
      seq({der(0x17, ascii("200101000000Z")), der(0x17, ascii("300101000000Z"))});
  const Bytes key = seq({algorithm, der(0x03, raw({0x00, 0x01}))});
  std::vector<Bytes> tbs = {
      der(0xA0, integer({0x02})), serial, algorithm, issuer, validity, subject, key};
  if (subject_key_id) {
    tbs.push_back(
        der(0xA3, seq({seq({oid({0x55, 0x1D, 0x0E}), der(0x04, der(0x04, *subject_key_id))})})));
  }
  return seq({seq(tbs), algorithm, der(0x03, raw({0x00, 0xAA}))});
}

// ContentInfo(signedData) with these certificates and one SignerInfo whose identifier is sid
// (an IssuerAndSerialNumber SEQUENCE or a [0] subjectKeyIdentifier).
inline Bytes pkcs7_signed_data(const std::vector<Bytes>& certificates, const Bytes& sid) {
  const Bytes sha256 = seq({oid({0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01})});
  const Bytes content = seq({oid({0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04})});
  const Bytes signer_info = seq({integer({0x01}), sid, sha256, sha256, der(0x04, raw({0x01}))});
  const Bytes signed_data = seq({integer({0x01}), set_of({sha256}), content,
                                 der(0xA0, cat(certificates)), set_of({signer_info})});
  return seq({oid({0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02}), der(0xA0, signed_data)});
}

}  // namespace poolscope::testing
