// KMDF default pool tags.
#include "attrib/kmdf.h"

#include <cstdio>

#include "core/bytes.h"
#include "parse/text.h"

namespace poolscope::attrib {

namespace {

// `mov dword [base + disp], imm32` (opcode C7 /0) at bytes[i], the forms compilers use for a local
// structure (rsp or rbp/ebp based, disp8 or disp32) or a global (x64 rip-relative, x86 absolute).
// A REX.W prefix (a 64-bit store of a sign-extended imm32, which also zeroes the padding after
// Size) is accepted. base: 0 rsp, 1 rbp, 2 global; disp: the offset, or the global's RVA.
struct DwordStore {
  int base = 0;
  std::int64_t disp = 0;
  std::uint32_t imm = 0;
  std::size_t length = 0;
};

std::optional<DwordStore> dword_store_at(parse::ByteSpan code, std::size_t i, std::uint32_t rva,
                                         bool x64, std::uint64_t image_base) {
  std::size_t at = i;
  if (x64 && at < code.size() && code[at] == std::byte{0x48}) ++at;  // REX.W
  if (at + 2 > code.size() || code[at] != std::byte{0xC7}) return std::nullopt;
  const auto modrm = std::to_integer<std::uint8_t>(code[at + 1]);
  DwordStore out;
  std::size_t disp_at = 0, disp_size = 0;
  if (modrm == 0x44 || modrm == 0x84) {  // [rsp + disp8 / disp32]: SIB 0x24
    if (at + 3 > code.size() || code[at + 2] != std::byte{0x24}) return std::nullopt;
    out.base = 0;
    disp_at = at + 3;
    disp_size = modrm == 0x44 ? 1 : 4;
  } else if (modrm == 0x45 || modrm == 0x85) {  // [rbp + disp8 / disp32]
    out.base = 1;
    disp_at = at + 2;
    disp_size = modrm == 0x45 ? 1 : 4;
  } else if (modrm == 0x05) {  // x64 [rip + disp32], x86 [disp32]
    out.base = 2;
    disp_at = at + 2;
    disp_size = 4;
  } else {
    return std::nullopt;
  }
  if (disp_at + disp_size + 4 > code.size()) return std::nullopt;
  const std::uint64_t raw = load_le(code, disp_at, disp_size);
  out.disp = disp_size == 1 ? static_cast<std::int8_t>(raw) : static_cast<std::int32_t>(raw);
  out.imm = load_le32(code, disp_at + disp_size);
  out.length = disp_at + disp_size + 4 - i;
  if (out.base == 2) {
    out.disp =
        x64 ? static_cast<std::int64_t>(rva) + static_cast<std::int64_t>(out.length) + out.disp
            : static_cast<std::int64_t>(static_cast<std::uint32_t>(raw)) -
                  static_cast<std::int64_t>(image_base);
  }
  return out;
}

}  // namespace

std::optional<KmdfPoolTag> kmdf_driver_pool_tag(const parse::PeImage& image, parse::ByteSpan data) {
  const bool x64 = image.machine == parse::kMachineAmd64;
  const std::uint32_t size = x64 ? 32 : 20;       // sizeof(WDF_DRIVER_CONFIG)
  const std::int64_t tag_offset = x64 ? 28 : 16;  // offsetof(WDF_DRIVER_CONFIG, DriverPoolTag)
  constexpr std::size_t kWindow = 256;
  for (const auto& section : image.sections) {
    if (!parse::pe_section_is_code(section)) continue;
    const parse::ByteSpan code = parse::pe_section_bytes(section, data);
    for (std::size_t i = 0; i + 7 <= code.size(); ++i) {
      // Cheap filter before decoding: the Size immediate's first byte follows C7 within 8 bytes.
      if (code[i] != std::byte{0xC7} && code[i] != std::byte{0x48}) continue;
      const auto rva = static_cast<std::uint32_t>(section.virtual_address + i);
      auto size_store = dword_store_at(code, i, rva, x64, image.image_base);
      if (!size_store || size_store->imm != size) continue;
      const std::size_t end = std::min(code.size(), i + size_store->length + kWindow);
      for (std::size_t j = i + size_store->length; j + 7 <= end; ++j) {
        const auto tag_rva = static_cast<std::uint32_t>(section.virtual_address + j);
        auto tag_store = dword_store_at(code, j, tag_rva, x64, image.image_base);
        if (!tag_store || tag_store->base != size_store->base ||
            tag_store->disp != size_store->disp + tag_offset || !is_printable_tag(tag_store->imm)) {
          continue;
        }
        return KmdfPoolTag{.tag = tag_from_le32(tag_store->imm), .rva = tag_rva};
      }
    }
  }
  return std::nullopt;
}

std::optional<WdfFunctionTable> wdf_function_table(const parse::PeImage& image,
                                                   parse::ByteSpan data) {
  const bool x64 = image.machine == parse::kMachineAmd64;
  if (!x64 && image.machine != parse::kMachineI386) return std::nullopt;
  const std::size_t pointer = x64 ? 8 : 4;
  const std::uint32_t size = x64 ? 48 : 32;  // sizeof(WDF_BIND_INFO)
  const std::size_t component_at = pointer, version_at = 2 * pointer;
  const std::size_t count_at = version_at + 12, table_at = x64 ? 32 : 24;
  // A pointer field as an RVA inside the image (the preferred base is what the file holds).
  const auto rva_of = [&](parse::ByteSpan bytes, std::size_t at) -> std::optional<std::uint32_t> {
    const std::uint64_t va = load_le(bytes, at, pointer);
    if (va <= image.image_base || va - image.image_base > 0xFFFFFFFFu) return std::nullopt;
    const auto rva = static_cast<std::uint32_t>(va - image.image_base);
    if (parse::pe_section_for_rva(image, rva) == nullptr) return std::nullopt;
    return rva;
  };
  static constexpr char kComponent[] = "KmdfLibrary";
  const auto names_kmdf = [&](std::uint32_t rva) {
    const auto offset = parse::pe_rva_to_offset(image, rva, 2 * sizeof kComponent);
    if (!offset || *offset + 2 * sizeof kComponent > data.size()) return false;
    for (std::size_t k = 0; k < sizeof kComponent; ++k) {  // UTF-16 LE, with its terminator
      if (data[*offset + 2 * k] != static_cast<std::byte>(kComponent[k]) ||
          data[*offset + 2 * k + 1] != std::byte{0}) {
        return false;
      }
    }
    return true;
  };
  for (const auto& section : image.sections) {
    if (parse::pe_section_is_code(section)) continue;
    const parse::ByteSpan bytes = parse::pe_section_bytes(section, data);
    for (std::size_t at = 0; at + size <= bytes.size(); at += pointer) {
      if (load_le32(bytes, at) != size || load_le32(bytes, version_at + at) != 1) continue;
      const std::uint32_t count = load_le32(bytes, at + count_at);
      if (count == 0 || count > 4096) continue;
      const auto component = rva_of(bytes, at + component_at);
      const auto table = rva_of(bytes, at + table_at);
      if (!component || !table || !names_kmdf(*component)) continue;
      return WdfFunctionTable{
          .global_rva = *table,
          .bind_info_rva = static_cast<std::uint32_t>(section.virtual_address + at),
          .function_count = count};
    }
  }
  return std::nullopt;
}

bool imports_wdf(const parse::PeImage& image) {
  for (const auto& module : image.imports) {
    if (!parse::equals_ignore_case(module.dll, "wdfldr.sys")) continue;
    for (const auto& function : module.functions) {
      if (function.name == "WdfVersionBind") return true;
    }
  }
  return false;
}

std::string kmdf_default_tag(std::string_view service_name) {
  std::string_view name = service_name;
  if (name.size() >= 3 && parse::equals_ignore_case(name.substr(0, 3), "WDF")) {
    name.remove_prefix(3);
  }
  if (name.size() < 4) return "FxDr";
  return std::string(name.substr(0, 4));
}

std::optional<DriverTag> kmdf_service_tag(const parse::PeImage& image,
                                          std::string_view service_name, bool name_is_image) {
  if (!imports_wdf(image) || service_name.empty()) return std::nullopt;
  DriverTag out;
  const std::string tag = kmdf_default_tag(service_name);
  out.tag = tag_from_text(tag);
  out.confidence = Confidence::kMedium;
  out.note =
      "KMDF driver (imports WdfVersionBind): unless it sets WDF_DRIVER_CONFIG."
      "DriverPoolTag, the framework tags its objects '" +
      tag + "', the first four characters of its service name \"" + std::string(service_name) +
      "\"" + (name_is_image ? " (the image name, standing in for the service name)" : "");
  return out;
}

std::optional<DriverTag> kmdf_tag(const parse::PeImage& image, parse::ByteSpan data,
                                  std::string_view service_name, bool name_is_image) {
  if (!imports_wdf(image)) return std::nullopt;
  if (auto own = kmdf_driver_pool_tag(image, data)) {
    DriverTag out;
    out.tag = own->tag;
    out.confidence = Confidence::kHigh;
    char rva[16];
    std::snprintf(rva, sizeof rva, "0x%x", own->rva);
    out.note = "KMDF driver: its code sets WDF_DRIVER_CONFIG.DriverPoolTag = '" +
               display_key(own->tag) + "' (the store at RVA " + rva +
               "), so the framework tags its objects with it";
    return out;
  }
  return kmdf_service_tag(image, service_name, name_is_image);
}

}  // namespace poolscope::attrib
