// The version resource of a PE image: the RT_VERSION entry of the resource directory and its
// VS_VERSIONINFO tree (fixed file info, the string table of the first translation).
#include <array>

#include "parse/encoding.h"
#include "parse/pe_detail.h"
#include "parse/text.h"

namespace poolscope::parse::pe_detail {

namespace {

constexpr std::size_t kMaxVersionStrings = 256;
constexpr std::size_t kMaxVersionTables = 32;
constexpr std::uint32_t kRtVersion = 16;
constexpr std::uint32_t kFixedFileInfoSignature = 0xFEEF04BD;

std::size_t align4(std::size_t value) {
  return (value + 3) & ~std::size_t{3};
}

// One block of the VS_VERSIONINFO tree: wLength, wValueLength, wType, szKey, padding, Value,
// padding, Children. Offsets are relative to the start of the resource, which is 32-bit aligned.
struct VersionBlock {
  std::string key;
  ByteSpan value;     // wValueLength bytes (binary) or up to the block end (text)
  ByteSpan children;  // the rest of the block after the value, aligned
  std::size_t length = 0;
  std::uint16_t type = 0;
};

std::optional<VersionBlock> read_version_block(ByteSpan all, std::size_t offset, std::size_t end) {
  if (offset + 6 > end) return std::nullopt;
  const std::uint16_t length = load_le16(all.data() + offset);
  const std::uint16_t value_length = load_le16(all.data() + offset + 2);
  VersionBlock block;
  block.type = load_le16(all.data() + offset + 4);
  if (length < 6) return std::nullopt;
  const std::size_t block_end = std::min(end, offset + length);
  block.length = length;
  std::size_t key_end = offset + 6;
  while (key_end + 2 <= block_end && load_le16(all.data() + key_end) != 0) key_end += 2;
  block.key = utf16_to_utf8(all.subspan(offset + 6, key_end - (offset + 6)), false);
  std::size_t value_start = std::min(block_end, align4(key_end + 2));
  std::size_t value_bytes = block.type == 1 ? std::size_t{value_length} * 2 : value_length;
  value_bytes = std::min(value_bytes, block_end - value_start);
  if (block.type == 1) {
    // Writers disagree on whether wValueLength counts bytes or characters: take the rest of the
    // block (a String has no children), which holds the text either way.
    block.value = all.subspan(value_start, block_end - value_start);
  } else {
    block.value = all.subspan(value_start, value_bytes);
  }
  const std::size_t children_start = std::min(block_end, align4(value_start + value_bytes));
  block.children = all.subspan(children_start, block_end - children_start);
  return block;
}

// Calls visit(block) for each child block of a span, in order. Each block is at least 6 bytes and
// the walk advances by its aligned length, so it ends.
template <class Visit>
void for_each_child(ByteSpan all, ByteSpan children, std::size_t limit, Visit visit) {
  std::size_t offset = static_cast<std::size_t>(children.data() - all.data());
  const std::size_t end = offset + children.size();
  std::size_t seen = 0;
  while (offset + 6 <= end && seen++ < limit) {
    auto block = read_version_block(all, offset, end);
    if (!block) return;
    visit(*block);
    offset = align4(offset + block->length);
  }
}

}  // namespace

void read_version(const Mapper& mapper, PeImage& image, const Problem& problem) {
  const PeDataDirectory dir = image.directories[kDirResource];
  if (dir.rva == 0) return;
  const std::uint64_t root = dir.rva;
  // Reads one IMAGE_RESOURCE_DIRECTORY and returns the OffsetToData of the first entry accepted.
  const auto find_entry = [&](std::uint64_t directory,
                              auto accept) -> std::optional<std::uint32_t> {
    ByteSpan header = mapper.at(directory, 16);
    if (header.empty()) return std::nullopt;
    const std::uint64_t count =
        static_cast<std::uint64_t>(load_le16(header.data() + 12)) + load_le16(header.data() + 14);
    ByteSpan entries = mapper.from(directory + 16);
    const std::uint64_t present = std::min<std::uint64_t>(count, entries.size() / 8);
    for (std::uint64_t i = 0; i < present; ++i) {
      const std::byte* e = entries.data() + 8 * i;
      if (accept(load_le32(e), load_le32(e + 4))) return load_le32(e + 4);
    }
    return std::nullopt;
  };
  constexpr std::uint32_t kHigh = 0x80000000u;
  auto type = find_entry(root, [](std::uint32_t id, std::uint32_t to) {
    return id == kRtVersion && (to & kHigh) != 0;
  });
  if (!type) return;  // no version resource (or no readable resource directory)
  auto name = find_entry(root + (*type & ~kHigh),
                         [](std::uint32_t, std::uint32_t to) { return (to & kHigh) != 0; });
  auto language =
      name ? find_entry(root + (*name & ~kHigh),
                        [](std::uint32_t, std::uint32_t to) { return (to & kHigh) == 0; })
           : std::nullopt;
  if (!language) {
    problem("version resource: RT_VERSION has no name and language entry leading to data");
    return;
  }
  ByteSpan data_entry = mapper.at(root + *language, 16);
  if (data_entry.empty()) {
    problem("version resource: data entry at RVA " + hex(root + *language) +
            " is outside the file");
    return;
  }
  const std::uint32_t data_rva = load_le32(data_entry.data());
  const std::uint32_t data_size = std::min<std::uint32_t>(load_le32(data_entry.data() + 4), 0xFFFF);
  ByteSpan all = mapper.at(data_rva, data_size);
  if (all.empty()) {
    problem("version resource: data at RVA " + hex(data_rva) + " is outside the file");
    return;
  }
  auto top = read_version_block(all, 0, all.size());
  if (!top || top->key != "VS_VERSION_INFO") {
    problem("version resource: no VS_VERSION_INFO block");
    return;
  }
  PeVersionInfo info;
  if (top->value.size() >= 52 && load_le32(top->value.data()) == kFixedFileInfoSignature) {
    const std::byte* v = top->value.data();
    PeFixedFileInfo fixed;
    const auto split = [](std::uint32_t ms, std::uint32_t ls) {
      return std::array<std::uint16_t, 4>{
          static_cast<std::uint16_t>(ms >> 16), static_cast<std::uint16_t>(ms & 0xFFFF),
          static_cast<std::uint16_t>(ls >> 16), static_cast<std::uint16_t>(ls & 0xFFFF)};
    };
    fixed.file_version = split(load_le32(v + 8), load_le32(v + 12));
    fixed.product_version = split(load_le32(v + 16), load_le32(v + 20));
    fixed.file_flags = load_le32(v + 28);
    fixed.file_os = load_le32(v + 32);
    fixed.file_type = load_le32(v + 36);
    fixed.file_subtype = load_le32(v + 40);
    info.fixed = fixed;
  }
  std::vector<VersionBlock> tables;
  std::string translation;
  for_each_child(all, top->children, kMaxVersionTables, [&](const VersionBlock& child) {
    if (child.key == "StringFileInfo") {
      for_each_child(all, child.children, kMaxVersionTables,
                     [&](const VersionBlock& table) { tables.push_back(table); });
    } else if (child.key == "VarFileInfo") {
      for_each_child(all, child.children, kMaxVersionTables, [&](const VersionBlock& var) {
        if (var.key == "Translation" && var.value.size() >= 4 && translation.empty()) {
          static constexpr char kDigits[] = "0123456789abcdef";
          const std::uint32_t lang = load_le16(var.value.data());
          const std::uint32_t codepage = load_le16(var.value.data() + 2);
          const std::uint32_t both = (lang << 16) | codepage;
          for (int shift = 28; shift >= 0; shift -= 4)
            translation += kDigits[(both >> shift) & 0xF];
        }
      });
    }
  });
  const VersionBlock* chosen = tables.empty() ? nullptr : &tables.front();
  for (const auto& table : tables) {
    if (!translation.empty() && equals_ignore_case(table.key, translation)) {
      chosen = &table;
      break;
    }
  }
  if (chosen != nullptr) {
    info.language = chosen->key;
    for_each_child(all, chosen->children, kMaxVersionStrings, [&](const VersionBlock& s) {
      std::string value = utf16_to_utf8(s.value, false);
      if (s.key == "CompanyName") info.company_name = value;
      if (s.key == "FileDescription") info.file_description = value;
      if (s.key == "FileVersion") info.file_version = value;
      if (s.key == "ProductName") info.product_name = value;
      if (s.key == "OriginalFilename") info.original_filename = value;
      info.strings.emplace_back(s.key, std::move(value));
    });
  }
  image.version = std::move(info);
}

}  // namespace poolscope::parse::pe_detail
