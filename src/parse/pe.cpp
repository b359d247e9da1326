// PE reader. Every read goes through bounds-checked helpers; every loop is bounded by the bytes it
// walks and by the caps below, so memory stays proportional to the input and never to a count the
// file declares.
#include "parse/pe.h"

#include <algorithm>
#include <cstring>

#include "core/forward_error.h"
#include "parse/encoding.h"
#include "parse/pe_detail.h"
#include "parse/text.h"

namespace poolscope::parse {

namespace pe_detail {

std::string hex(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xF]);
    value >>= 4;
  } while (value != 0);
  return "0x" + out;
}

}  // namespace pe_detail

namespace {

using namespace pe_detail;

// Caps far above what real images have (ntoskrnl.exe exports ~3,000 functions; large drivers import
// ~1,500) and low enough that a hostile file cannot make us allocate much.
constexpr std::size_t kMaxImportModules = 4096;
constexpr std::size_t kMaxImportedFunctions = 65536;
constexpr std::size_t kMaxExports = 65536;  // export ordinals are 16-bit
constexpr std::size_t kMaxNameLength = 4096;
constexpr std::size_t kMaxStringBytes = 32u << 20;  // all names together
constexpr std::size_t kMaxRuntimeFunctions = 1u << 20;
constexpr std::size_t kMaxProblems = 64;

constexpr std::uint32_t kPeSignature = 0x00004550;  // "PE\0\0"
constexpr std::uint16_t kMagicPe32 = 0x10b;
constexpr std::uint16_t kMagicPe32Plus = 0x20b;
constexpr std::size_t kFileHeaderSize = 20;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::size_t kImportDescriptorSize = 20;
constexpr std::size_t kDelayDescriptorSize = 32;

class Parser {
 public:
  Parser(ByteSpan data, PeImage& image) : data_(data), image_(image) {}

  Result<void> headers();
  void finish(const PeOptions& options) {
    mapper_.emplace(image_, data_);
    if (options.imports) {
      imports();
      delay_imports();
    }
    if (options.exports) exports();
    if (options.runtime_functions) runtime_functions();
    const Problem report = [this](std::string message) { problem(std::move(message)); };
    if (options.version) read_version(*mapper_, image_, report);
    if (options.signature) read_signature(data_, image_, report);
  }

 private:
  void problem(std::string message) {
    if (image_.problems.size() < kMaxProblems) {
      image_.problems.push_back(std::move(message));
    } else if (image_.problems.size() == kMaxProblems) {
      image_.problems.push_back("further problems not listed");
    }
  }

  // A NUL-terminated ASCII name at rva, charged to the string budget; nullopt (and a problem
  // saying what) when it is not file-backed, not terminated or too long.
  std::optional<std::string> name_at(std::uint64_t rva, std::string_view what) {
    ByteSpan s = mapper_->from(rva);
    if (s.empty()) {
      problem(std::string(what) + ": name RVA " + hex(rva) + " is outside the file");
      return std::nullopt;
    }
    const std::size_t limit = std::min(s.size(), kMaxNameLength + 1);
    const void* nul = std::memchr(s.data(), 0, limit);
    if (nul == nullptr) {
      problem(std::string(what) + ": name at RVA " + hex(rva) +
              (limit > kMaxNameLength ? " is longer than 4096 bytes" : " is not terminated"));
      return std::nullopt;
    }
    const std::size_t length =
        static_cast<std::size_t>(static_cast<const std::byte*>(nul) - s.data());
    if (string_bytes_ + length > kMaxStringBytes) {
      problem(std::string(what) + ": names exceed 32 MiB in total; the rest is not read");
      budget_exhausted_ = true;
      return std::nullopt;
    }
    string_bytes_ += length;
    ByteSpan bytes = s.first(length);
    // Names are ASCII in real images; anything else is made valid UTF-8 for the output formats.
    if (std::any_of(bytes.begin(), bytes.end(), [](std::byte b) { return b >= std::byte{0x80}; })) {
      return clean_utf8(bytes);
    }
    return std::string(reinterpret_cast<const char*>(bytes.data()), length);
  }

  // Reads one thunk table; returns false when the function cap stops all import reading.
  bool thunks(PeImportModule& module, std::uint64_t lookup, std::uint64_t iat, bool has_lookup,
              const std::string& what);
  void imports();
  void delay_imports();
  void exports();
  void runtime_functions();

  ByteSpan data_;
  PeImage& image_;
  std::optional<Mapper> mapper_;
  std::size_t string_bytes_ = 0;
  std::size_t function_count_ = 0;
  bool budget_exhausted_ = false;
};

Result<void> Parser::headers() {
  const std::uint64_t size = data_.size();
  image_.file_size = size;
  if (size < 2 || data_[0] != std::byte{'M'} || data_[1] != std::byte{'Z'}) {
    return make_error(ErrorCode::kInput, "not a PE file: no MZ header");
  }
  if (size < 0x40) {
    return make_error(ErrorCode::kInput, "not a PE file: truncated DOS header (" +
                                             std::to_string(size) + " bytes, 64 needed)");
  }
  const std::uint32_t pe_offset = load_le32(data_.data() + 0x3c);
  if (!fits(pe_offset, 4, size)) {
    return make_error(ErrorCode::kInput,
                      "not a PE file: e_lfanew " + hex(pe_offset) + " points outside the file");
  }
  if (load_le32(data_.data() + pe_offset) != kPeSignature) {
    return make_error(ErrorCode::kInput,
                      "not a PE file: no \"PE\\0\\0\" signature at " + hex(pe_offset));
  }
  const std::uint64_t fh = pe_offset + 4;
  if (!fits(fh, kFileHeaderSize, size)) {
    return make_error(ErrorCode::kInput, "truncated PE file header at " + hex(fh));
  }
  const std::byte* f = data_.data() + fh;
  image_.machine = load_le16(f);
  const std::uint16_t section_count = load_le16(f + 2);
  image_.timestamp = load_le32(f + 4);
  const std::uint16_t optional_size = load_le16(f + 16);
  image_.characteristics = load_le16(f + 18);

  const std::uint64_t oh = fh + kFileHeaderSize;
  if (!fits(oh, 2, size)) {
    return make_error(ErrorCode::kInput, "truncated optional header at " + hex(oh));
  }
  const std::uint16_t magic = load_le16(data_.data() + oh);
  if (magic != kMagicPe32 && magic != kMagicPe32Plus) {
    return make_error(ErrorCode::kInput, "unsupported optional header magic " + hex(magic) +
                                             " (0x10b PE32 or 0x20b PE32+ expected)");
  }
  image_.pe32_plus = magic == kMagicPe32Plus;
  // Fixed part up to and including NumberOfRvaAndSizes: 96 bytes (PE32) or 112 (PE32+).
  const std::uint64_t fixed = image_.pe32_plus ? 112 : 96;
  if (optional_size < fixed) {
    return make_error(ErrorCode::kInput, "optional header too small: SizeOfOptionalHeader " +
                                             std::to_string(optional_size) + ", " +
                                             std::to_string(fixed) + " needed");
  }
  if (!fits(oh, fixed, size)) {
    return make_error(ErrorCode::kInput, "truncated optional header at " + hex(oh));
  }
  const std::byte* o = data_.data() + oh;
  image_.entry_point_rva = load_le32(o + 16);
  image_.image_base = image_.pe32_plus ? load_le64(o + 24) : load_le32(o + 28);
  image_.section_alignment = load_le32(o + 32);
  image_.file_alignment = load_le32(o + 36);
  image_.size_of_image = load_le32(o + 56);
  image_.size_of_headers = load_le32(o + 60);
  image_.checksum = load_le32(o + 64);
  image_.subsystem = load_le16(o + 68);
  image_.dll_characteristics = load_le16(o + 70);
  const std::uint32_t declared_dirs = load_le32(o + fixed - 4);
  const std::uint64_t room = (optional_size - fixed) / 8;
  const std::uint64_t dir_count = std::min<std::uint64_t>({declared_dirs, kDirCount, room});
  if (!fits(oh + fixed, dir_count * 8, size)) {
    return make_error(ErrorCode::kInput, "truncated data directories at " + hex(oh + fixed));
  }
  for (std::size_t i = 0; i < dir_count; ++i) {
    const std::byte* d = o + fixed + 8 * i;
    image_.directories[i] = {load_le32(d), load_le32(d + 4)};
  }

  const std::uint64_t st = oh + optional_size;
  const std::uint64_t table_bytes = static_cast<std::uint64_t>(section_count) * kSectionHeaderSize;
  if (!fits(st, table_bytes, size)) {
    const std::uint64_t present = st < size ? (size - st) / kSectionHeaderSize : 0;
    return make_error(ErrorCode::kInput,
                      "truncated section table: " + std::to_string(section_count) +
                          " sections declared at " + hex(st) + ", the file holds " +
                          std::to_string(present));
  }
  image_.sections.reserve(section_count);  // bounded: the table is in the file
  for (std::size_t i = 0; i < section_count; ++i) {
    const std::byte* s = data_.data() + st + kSectionHeaderSize * i;
    PeSection section;
    const char* name = reinterpret_cast<const char*>(s);
    section.name = clean_utf8(ByteSpan(s, strnlen(name, 8)));
    section.virtual_size = load_le32(s + 8);
    section.virtual_address = load_le32(s + 12);
    section.raw_size = load_le32(s + 16);
    section.raw_offset = load_le32(s + 20);
    section.characteristics = load_le32(s + 36);
    image_.sections.push_back(std::move(section));
  }
  return {};
}

bool Parser::thunks(PeImportModule& module, std::uint64_t lookup, std::uint64_t iat,
                    bool has_lookup, const std::string& what) {
  const std::uint64_t width = image_.pe32_plus ? 8 : 4;
  const std::uint64_t ordinal_flag = image_.pe32_plus ? (1ull << 63) : (1ull << 31);
  ByteSpan table = mapper_->from(lookup);
  for (std::uint64_t j = 0;; ++j) {
    if (function_count_ >= kMaxImportedFunctions) {
      problem("more than 65536 imported functions; the rest is not read");
      return false;
    }
    if ((j + 1) * width > table.size()) {
      problem(what + ": lookup table at RVA " + hex(lookup) +
              (j == 0 && table.empty() ? " is outside the file" : " is not terminated"));
      return true;
    }
    const std::byte* p = table.data() + j * width;
    const std::uint64_t value = image_.pe32_plus ? load_le64(p) : load_le32(p);
    if (value == 0) return true;
    PeImportedFunction function;
    const std::uint64_t slot = iat + j * width;
    if (slot > UINT32_MAX || (has_lookup && lookup + j * width > UINT32_MAX)) {
      problem(what + ": thunk table runs past RVA 0xffffffff");
      return true;
    }
    function.iat_rva = static_cast<std::uint32_t>(slot);
    function.lookup_rva = has_lookup ? static_cast<std::uint32_t>(lookup + j * width) : 0;
    if (value & ordinal_flag) {
      function.ordinal = static_cast<std::uint16_t>(value & 0xFFFF);
    } else {
      if (value > 0x7FFFFFFF) {
        problem(what + ": thunk " + std::to_string(j) + " (" + hex(value) +
                ") is neither an ordinal nor a name RVA");
        return true;
      }
      ByteSpan hint = mapper_->at(value, 2);
      if (hint.empty()) {
        problem(what + ": hint/name RVA " + hex(value) + " is outside the file");
        return true;
      }
      function.hint = load_le16(hint.data());
      auto name = name_at(value + 2, what);
      if (!name) return !budget_exhausted_;
      function.name = std::move(*name);
    }
    module.functions.push_back(std::move(function));
    ++function_count_;
  }
}

void Parser::imports() {
  const PeDataDirectory dir = image_.directories[kDirImport];
  if (dir.rva == 0) return;
  ByteSpan table = mapper_->from(dir.rva);
  if (table.empty()) {
    problem("import directory RVA " + hex(dir.rva) + " is outside the file");
    return;
  }
  // Like the Windows loader, read descriptors until one without a name or IAT, whatever the
  // directory size says.
  for (std::size_t i = 0;; ++i) {
    if (image_.imports.size() >= kMaxImportModules) {
      problem("more than 4096 imported modules; the rest is not read");
      return;
    }
    if ((i + 1) * kImportDescriptorSize > table.size()) {
      problem("import directory at RVA " + hex(dir.rva) + " is not terminated (descriptor " +
              std::to_string(i) + " runs past its section)");
      return;
    }
    const std::byte* d = table.data() + i * kImportDescriptorSize;
    const std::uint32_t lookup = load_le32(d);
    const std::uint32_t name_rva = load_le32(d + 12);
    const std::uint32_t iat = load_le32(d + 16);
    if (name_rva == 0 || iat == 0) return;
    const std::string what = "import descriptor " + std::to_string(i);
    auto dll = name_at(name_rva, what);
    if (!dll) {
      if (budget_exhausted_) return;
      continue;
    }
    PeImportModule module;
    module.dll = std::move(*dll);
    const bool has_lookup = lookup != 0;  // old linkers leave it 0: the IAT holds the names
    const bool go_on =
        thunks(module, has_lookup ? lookup : iat, iat, has_lookup, what + " (" + module.dll + ")");
    image_.imports.push_back(std::move(module));
    if (!go_on || budget_exhausted_) return;
  }
}

void Parser::delay_imports() {
  const PeDataDirectory dir = image_.directories[kDirDelayImport];
  if (dir.rva == 0) return;
  ByteSpan table = mapper_->from(dir.rva);
  if (table.empty()) {
    problem("delay-load import directory RVA " + hex(dir.rva) + " is outside the file");
    return;
  }
  for (std::size_t i = 0;; ++i) {
    if (image_.imports.size() >= kMaxImportModules) {
      problem("more than 4096 imported modules; the rest is not read");
      return;
    }
    if ((i + 1) * kDelayDescriptorSize > table.size()) {
      problem("delay-load import directory at RVA " + hex(dir.rva) + " is not terminated");
      return;
    }
    const std::byte* d = table.data() + i * kDelayDescriptorSize;
    const std::uint32_t attributes = load_le32(d);
    std::uint64_t name = load_le32(d + 4);
    std::uint64_t iat = load_le32(d + 12);
    std::uint64_t int_rva = load_le32(d + 16);
    if (name == 0) return;
    const std::string what = "delay-load descriptor " + std::to_string(i);
    // Attribute bit 0 (dlattrRva) clear: the old Visual C++ 6 layout holds virtual addresses.
    if ((attributes & 1) == 0) {
      bool ok = true;
      for (std::uint64_t* field : {&name, &iat, &int_rva}) {
        if (*field == 0) continue;
        if (*field < image_.image_base || *field - image_.image_base > UINT32_MAX) {
          ok = false;
        } else {
          *field -= image_.image_base;
        }
      }
      if (!ok) {
        problem(what + ": addresses are not inside the image (attributes " + hex(attributes) + ")");
        continue;
      }
    }
    auto dll = name_at(name, what);
    if (!dll) {
      if (budget_exhausted_) return;
      continue;
    }
    PeImportModule module;
    module.dll = std::move(*dll);
    module.delay_load = true;
    if (iat == 0 || int_rva == 0) {
      problem(what + " (" + module.dll + "): no import address or name table");
      image_.imports.push_back(std::move(module));
      continue;
    }
    const bool go_on = thunks(module, int_rva, iat, true, what + " (" + module.dll + ")");
    image_.imports.push_back(std::move(module));
    if (!go_on || budget_exhausted_) return;
  }
}

void Parser::exports() {
  const PeDataDirectory dir = image_.directories[kDirExport];
  if (dir.rva == 0) return;
  ByteSpan header = mapper_->at(dir.rva, 40);
  if (header.empty()) {
    problem("export directory at RVA " + hex(dir.rva) + " is outside the file");
    return;
  }
  const std::byte* h = header.data();
  const std::uint32_t name_rva = load_le32(h + 12);
  const std::uint32_t base = load_le32(h + 16);
  std::uint64_t function_count = load_le32(h + 20);
  std::uint64_t name_count = load_le32(h + 24);
  const std::uint32_t functions_rva = load_le32(h + 28);
  const std::uint32_t names_rva = load_le32(h + 32);
  const std::uint32_t ordinals_rva = load_le32(h + 36);
  if (name_rva != 0) {
    if (auto name = name_at(name_rva, "export directory")) image_.export_name = std::move(*name);
  }
  if (function_count > kMaxExports) {
    problem("export directory declares " + std::to_string(function_count) +
            " functions; only the first 65536 are read");
    function_count = kMaxExports;
  }
  if (name_count > kMaxExports) {
    problem("export directory declares " + std::to_string(name_count) +
            " names; only the first 65536 are read");
    name_count = kMaxExports;
  }
  ByteSpan functions = mapper_->at(functions_rva, function_count * 4);
  if (function_count != 0 && functions.empty()) {
    problem("export address table at RVA " + hex(functions_rva) + " is outside the file");
    return;
  }
  ByteSpan names = mapper_->at(names_rva, name_count * 4);
  ByteSpan ordinals = mapper_->at(ordinals_rva, name_count * 2);
  if (name_count != 0 && (names.empty() || ordinals.empty())) {
    problem("export name tables at RVA " + hex(names_rva) + " / " + hex(ordinals_rva) +
            " are outside the file; exports listed by ordinal only");
    name_count = 0;
  }
  // (function index, name index) for every name, sorted by function then name-table order.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> named;
  named.reserve(name_count);
  for (std::uint32_t i = 0; i < name_count; ++i) {
    const std::uint16_t index = load_le16(ordinals.data() + 2 * i);
    if (index >= function_count) {
      problem("export name " + std::to_string(i) + " has ordinal index " + std::to_string(index) +
              " beyond the " + std::to_string(function_count) + " functions");
      continue;
    }
    named.emplace_back(index, i);
  }
  std::sort(named.begin(), named.end());
  std::size_t next_name = 0;
  for (std::uint32_t i = 0; i < function_count; ++i) {
    const std::uint32_t rva = load_le32(functions.data() + 4 * i);
    PeExport entry;
    entry.ordinal = base + i;
    entry.rva = rva;
    if (rva >= dir.rva && rva - dir.rva < dir.size) {
      if (auto forwarder = name_at(rva, "export forwarder"))
        entry.forwarder = std::move(*forwarder);
    }
    bool any_name = false;
    while (next_name < named.size() && named[next_name].first == i) {
      const std::uint32_t name_index = named[next_name++].second;
      auto name = name_at(load_le32(names.data() + 4 * name_index), "export name");
      if (!name) {
        if (budget_exhausted_) return;
        continue;
      }
      PeExport copy = entry;
      copy.name = std::move(*name);
      image_.exports.push_back(std::move(copy));
      any_name = true;
    }
    if (!any_name && rva != 0) image_.exports.push_back(std::move(entry));
  }
}

void Parser::runtime_functions() {
  // ARM64 .pdata uses 8-byte packed records; only x64 RUNTIME_FUNCTIONs are read.
  if (image_.machine != kMachineAmd64) return;
  const PeDataDirectory dir = image_.directories[kDirException];
  if (dir.rva == 0 || dir.size == 0) return;
  std::uint64_t count = dir.size / 12;
  if (count > kMaxRuntimeFunctions) {
    problem("exception directory declares " + std::to_string(count) +
            " functions; only the first 1048576 are read");
    count = kMaxRuntimeFunctions;
  }
  ByteSpan table = mapper_->from(dir.rva);
  if (table.size() / 12 < count) {
    problem("exception directory at RVA " + hex(dir.rva) + " runs past its section");
    count = table.size() / 12;
  }
  image_.runtime_functions.reserve(count);  // bounded by the bytes present
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::byte* p = table.data() + 12 * i;
    image_.runtime_functions.push_back({load_le32(p), load_le32(p + 4), load_le32(p + 8)});
  }
}

}  // namespace

std::string pe_machine_name(std::uint16_t machine) {
  switch (machine) {
    case kMachineI386:
      return "x86";
    case kMachineAmd64:
      return "x64";
    case kMachineArm64:
      return "arm64";
    default: {
      std::string h = hex(machine).substr(2);
      return "0x" + std::string(4 - std::min<std::size_t>(4, h.size()), '0') + h;
    }
  }
}

Result<PeImage> parse_pe(ByteSpan data, const PeOptions& options) {
  PeImage image;
  Parser parser(data, image);
  if (auto ok = parser.headers(); !ok) return forward_error(ok);
  parser.finish(options);
  return image;
}

std::optional<std::uint64_t> pe_rva_to_offset(const PeImage& image, std::uint32_t rva,
                                              std::uint32_t size) {
  // Same rules as Mapper, without building it: the lowest-addressed section holding rva answers.
  const PeSection* best = nullptr;
  for (const auto& s : image.sections) {
    const std::uint64_t vsize = s.virtual_size != 0 ? s.virtual_size : s.raw_size;
    if (rva < s.virtual_address || rva - s.virtual_address >= vsize) continue;
    if (best == nullptr || s.virtual_address < best->virtual_address) best = &s;
  }
  const std::uint64_t want = size == 0 ? 1 : size;
  if (best == nullptr) {
    std::uint64_t headers = std::min<std::uint64_t>(image.size_of_headers, image.file_size);
    for (const auto& s : image.sections)
      headers = std::min<std::uint64_t>(headers, s.virtual_address);
    if (fits(rva, want, headers)) return rva;
    return std::nullopt;
  }
  const std::uint64_t vsize = best->virtual_size != 0 ? best->virtual_size : best->raw_size;
  std::uint64_t raw = 0;
  if (best->raw_offset < image.file_size) {
    raw = std::min<std::uint64_t>(best->raw_size, image.file_size - best->raw_offset);
  }
  raw = std::min(raw, vsize);
  const std::uint64_t delta = rva - best->virtual_address;
  if (!fits(delta, want, raw)) return std::nullopt;
  return best->raw_offset + delta;
}

const PeSection* pe_section_for_rva(const PeImage& image, std::uint32_t rva) {
  const PeSection* best = nullptr;
  for (const auto& s : image.sections) {
    const std::uint64_t vsize = s.virtual_size != 0 ? s.virtual_size : s.raw_size;
    if (rva < s.virtual_address || rva - s.virtual_address >= vsize) continue;
    if (best == nullptr || s.virtual_address < best->virtual_address) best = &s;
  }
  return best;
}

ByteSpan pe_section_bytes(const PeSection& section, ByteSpan data) {
  if (section.raw_offset >= data.size()) return {};
  std::uint64_t size = std::min<std::uint64_t>(section.raw_size, data.size() - section.raw_offset);
  if (section.virtual_size != 0) size = std::min<std::uint64_t>(size, section.virtual_size);
  return data.subspan(section.raw_offset, static_cast<std::size_t>(size));
}

bool pe_section_is_code(const PeSection& section) {
  return (section.characteristics & (kSectionCode | kSectionExecute)) != 0;
}

const PeImportedFunction* pe_find_import(const PeImage& image, std::string_view dll,
                                         std::string_view function) {
  for (const auto& module : image.imports) {
    if (!equals_ignore_case(module.dll, dll)) continue;
    for (const auto& f : module.functions) {
      if (f.name == function) return &f;
    }
  }
  return nullptr;
}

}  // namespace poolscope::parse
