// PE reader. Every read goes through bounds-checked helpers; every loop is bounded by the bytes it
// walks and by the caps below, so memory stays proportional to the input and never to a count the
// file declares.
#include "parse/pe.h"

#include <algorithm>
#include <cstring>

#include "parse/text.h"

namespace poolscope::parse {

namespace {

// Caps far above what real images have (ntoskrnl.exe exports ~3,000 functions; large drivers import
// ~1,500) and low enough that a hostile file cannot make us allocate much.
constexpr std::size_t kMaxImportModules = 4096;
constexpr std::size_t kMaxImportedFunctions = 65536;
constexpr std::size_t kMaxExports = 65536;  // export ordinals are 16-bit
constexpr std::size_t kMaxNameLength = 4096;
constexpr std::size_t kMaxStringBytes = 32u << 20;  // all names together
constexpr std::size_t kMaxRuntimeFunctions = 1u << 20;
constexpr std::size_t kMaxProblems = 64;
constexpr std::size_t kMaxVersionStrings = 256;
constexpr std::size_t kMaxVersionTables = 32;
constexpr std::size_t kMaxWinCertificates = 16;
constexpr std::size_t kMaxCertificates = 64;

constexpr std::uint32_t kPeSignature = 0x00004550;  // "PE\0\0"
constexpr std::uint16_t kMagicPe32 = 0x10b;
constexpr std::uint16_t kMagicPe32Plus = 0x20b;
constexpr std::size_t kFileHeaderSize = 20;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::size_t kImportDescriptorSize = 20;
constexpr std::size_t kDelayDescriptorSize = 32;
constexpr std::uint32_t kRtVersion = 16;
constexpr std::uint32_t kFixedFileInfoSignature = 0xFEEF04BD;
constexpr std::uint16_t kWinCertTypePkcsSignedData = 0x0002;

std::uint16_t le16(const std::byte* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned>(p[0]) |
                                    (static_cast<unsigned>(p[1]) << 8));
}
std::uint32_t le32(const std::byte* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint64_t le64(const std::byte* p) {
  return static_cast<std::uint64_t>(le32(p)) | (static_cast<std::uint64_t>(le32(p + 4)) << 32);
}

bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

std::string hex(std::uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xF]);
    value >>= 4;
  } while (value != 0);
  return "0x" + out;
}

std::size_t align4(std::size_t value) {
  return (value + 3) & ~std::size_t{3};
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// UTF-16 code units (either byte order) to UTF-8, stopping at the first NUL.
std::string utf16_to_utf8(ByteSpan bytes, bool big_endian) {
  std::string out;
  const std::size_t units = bytes.size() / 2;
  const auto unit = [&](std::size_t i) -> std::uint32_t {
    const std::byte* p = bytes.data() + 2 * i;
    return big_endian ? (static_cast<std::uint32_t>(p[0]) << 8) | static_cast<std::uint32_t>(p[1])
                      : le16(p);
  };
  for (std::size_t i = 0; i < units; ++i) {
    std::uint32_t u = unit(i);
    if (u == 0) break;
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < units) {
      std::uint32_t low = unit(i + 1);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
        ++i;
        continue;
      }
    }
    append_utf8(out, u);  // unpaired surrogates become U+FFFD there
  }
  return out;
}

std::string latin1_to_utf8(ByteSpan bytes) {
  std::string out;
  for (std::byte b : bytes) append_utf8(out, static_cast<std::uint32_t>(b));
  return out;
}

// UTF-8 as given, with invalid, overlong or surrogate sequences replaced by U+FFFD, so names from
// hostile certificates are always valid UTF-8 for the JSON and terminal output.
std::string clean_utf8(ByteSpan bytes) {
  std::string out;
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<std::uint32_t>(bytes[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    std::uint32_t minimum = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F, minimum = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F, minimum = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07, minimum = 0x10000;
    } else {
      append_utf8(out, 0xFFFD);
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k <= extra && i + k < bytes.size(); ++k) {
      const auto next = static_cast<std::uint32_t>(bytes[i + k]);
      if ((next & 0xC0) != 0x80) break;
      cp = (cp << 6) | (next & 0x3F);
    }
    if (k <= extra || cp < minimum) {
      append_utf8(out, 0xFFFD);
      i += k;
      continue;
    }
    append_utf8(out, cp);  // surrogates and values above U+10FFFF become U+FFFD there
    i += extra + 1;
  }
  return out;
}

// Maps RVAs to file bytes. Sections are turned into disjoint virtual intervals sorted by address
// (where sections overlap, the one with the lower address keeps the overlap), so every lookup is a
// binary search whatever the section count.
class Mapper {
 public:
  Mapper(const PeImage& image, ByteSpan data) : data_(data) {
    std::vector<std::size_t> order(image.sections.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return image.sections[a].virtual_address < image.sections[b].virtual_address;
    });
    std::uint64_t covered = 0;
    for (std::size_t index : order) {
      const PeSection& s = image.sections[index];
      const std::uint64_t vsize = s.virtual_size != 0 ? s.virtual_size : s.raw_size;
      const std::uint64_t begin = std::max<std::uint64_t>(s.virtual_address, covered);
      const std::uint64_t end = static_cast<std::uint64_t>(s.virtual_address) + vsize;
      if (begin >= end) continue;
      // Bytes of the section that the file really holds (the rest is zero-filled when mapped).
      std::uint64_t raw = 0;
      if (s.raw_offset < data.size()) {
        raw = std::min<std::uint64_t>(s.raw_size, data.size() - s.raw_offset);
      }
      raw = std::min(raw, vsize);
      intervals_.push_back({begin, end, s.virtual_address, s.raw_offset, raw});
      covered = end;
    }
    headers_ = std::min<std::uint64_t>(image.size_of_headers, data.size());
    if (!intervals_.empty()) headers_ = std::min(headers_, intervals_.front().begin);
  }

  // The file bytes from rva to the end of the region that holds it (empty when not file-backed).
  ByteSpan from(std::uint64_t rva) const {
    if (rva < headers_) return data_.subspan(rva, headers_ - rva);
    auto it = std::upper_bound(intervals_.begin(), intervals_.end(), rva,
                               [](std::uint64_t v, const Interval& i) { return v < i.begin; });
    if (it == intervals_.begin()) return {};
    --it;
    if (rva >= it->end) return {};
    const std::uint64_t delta = rva - it->section_va;
    if (delta >= it->raw) return {};
    return data_.subspan(it->raw_offset + delta, it->raw - delta);
  }

  // Exactly [rva, rva + size), or empty when not all of it is file-backed.
  ByteSpan at(std::uint64_t rva, std::uint64_t size) const {
    ByteSpan s = from(rva);
    if (s.size() < size) return {};
    return s.first(size);
  }

  std::optional<std::uint64_t> offset(std::uint64_t rva, std::uint64_t size) const {
    ByteSpan s = at(rva, size == 0 ? 1 : size);
    if (s.empty()) return std::nullopt;
    return static_cast<std::uint64_t>(s.data() - data_.data());
  }

 private:
  struct Interval {
    std::uint64_t begin, end;  // virtual range this section answers for
    std::uint64_t section_va;
    std::uint64_t raw_offset;
    std::uint64_t raw;  // file-backed bytes from section_va
  };
  ByteSpan data_;
  std::uint64_t headers_ = 0;
  std::vector<Interval> intervals_;
};

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
    if (options.version) version();
    if (options.signature) signature();
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
  void version();
  void signature();

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
  const std::uint32_t pe_offset = le32(data_.data() + 0x3c);
  if (!fits(pe_offset, 4, size)) {
    return make_error(ErrorCode::kInput,
                      "not a PE file: e_lfanew " + hex(pe_offset) + " points outside the file");
  }
  if (le32(data_.data() + pe_offset) != kPeSignature) {
    return make_error(ErrorCode::kInput,
                      "not a PE file: no \"PE\\0\\0\" signature at " + hex(pe_offset));
  }
  const std::uint64_t fh = pe_offset + 4;
  if (!fits(fh, kFileHeaderSize, size)) {
    return make_error(ErrorCode::kInput, "truncated PE file header at " + hex(fh));
  }
  const std::byte* f = data_.data() + fh;
  image_.machine = le16(f);
  const std::uint16_t section_count = le16(f + 2);
  image_.timestamp = le32(f + 4);
  const std::uint16_t optional_size = le16(f + 16);
  image_.characteristics = le16(f + 18);

  const std::uint64_t oh = fh + kFileHeaderSize;
  if (!fits(oh, 2, size)) {
    return make_error(ErrorCode::kInput, "truncated optional header at " + hex(oh));
  }
  const std::uint16_t magic = le16(data_.data() + oh);
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
  image_.entry_point_rva = le32(o + 16);
  image_.image_base = image_.pe32_plus ? le64(o + 24) : le32(o + 28);
  image_.section_alignment = le32(o + 32);
  image_.file_alignment = le32(o + 36);
  image_.size_of_image = le32(o + 56);
  image_.size_of_headers = le32(o + 60);
  image_.checksum = le32(o + 64);
  image_.subsystem = le16(o + 68);
  image_.dll_characteristics = le16(o + 70);
  const std::uint32_t declared_dirs = le32(o + fixed - 4);
  const std::uint64_t room = (optional_size - fixed) / 8;
  const std::uint64_t dir_count = std::min<std::uint64_t>({declared_dirs, kDirCount, room});
  if (!fits(oh + fixed, dir_count * 8, size)) {
    return make_error(ErrorCode::kInput, "truncated data directories at " + hex(oh + fixed));
  }
  for (std::size_t i = 0; i < dir_count; ++i) {
    const std::byte* d = o + fixed + 8 * i;
    image_.directories[i] = {le32(d), le32(d + 4)};
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
    section.virtual_size = le32(s + 8);
    section.virtual_address = le32(s + 12);
    section.raw_size = le32(s + 16);
    section.raw_offset = le32(s + 20);
    section.characteristics = le32(s + 36);
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
    const std::uint64_t value = image_.pe32_plus ? le64(p) : le32(p);
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
      function.hint = le16(hint.data());
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
    const std::uint32_t lookup = le32(d);
    const std::uint32_t name_rva = le32(d + 12);
    const std::uint32_t iat = le32(d + 16);
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
    const std::uint32_t attributes = le32(d);
    std::uint64_t name = le32(d + 4);
    std::uint64_t iat = le32(d + 12);
    std::uint64_t int_rva = le32(d + 16);
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
  const std::uint32_t name_rva = le32(h + 12);
  const std::uint32_t base = le32(h + 16);
  std::uint64_t function_count = le32(h + 20);
  std::uint64_t name_count = le32(h + 24);
  const std::uint32_t functions_rva = le32(h + 28);
  const std::uint32_t names_rva = le32(h + 32);
  const std::uint32_t ordinals_rva = le32(h + 36);
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
    const std::uint16_t index = le16(ordinals.data() + 2 * i);
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
    const std::uint32_t rva = le32(functions.data() + 4 * i);
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
      auto name = name_at(le32(names.data() + 4 * name_index), "export name");
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
    image_.runtime_functions.push_back({le32(p), le32(p + 4), le32(p + 8)});
  }
}

// ---- Version resource -------------------------------------------------------------------------

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
  const std::uint16_t length = le16(all.data() + offset);
  const std::uint16_t value_length = le16(all.data() + offset + 2);
  VersionBlock block;
  block.type = le16(all.data() + offset + 4);
  if (length < 6) return std::nullopt;
  const std::size_t block_end = std::min(end, offset + length);
  block.length = length;
  std::size_t key_end = offset + 6;
  while (key_end + 2 <= block_end && le16(all.data() + key_end) != 0) key_end += 2;
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

void Parser::version() {
  const PeDataDirectory dir = image_.directories[kDirResource];
  if (dir.rva == 0) return;
  const std::uint64_t root = dir.rva;
  // Reads one IMAGE_RESOURCE_DIRECTORY and returns the OffsetToData of the first entry accepted.
  const auto find_entry = [&](std::uint64_t directory,
                              auto accept) -> std::optional<std::uint32_t> {
    ByteSpan header = mapper_->at(directory, 16);
    if (header.empty()) return std::nullopt;
    const std::uint64_t count =
        static_cast<std::uint64_t>(le16(header.data() + 12)) + le16(header.data() + 14);
    ByteSpan entries = mapper_->from(directory + 16);
    const std::uint64_t present = std::min<std::uint64_t>(count, entries.size() / 8);
    for (std::uint64_t i = 0; i < present; ++i) {
      const std::byte* e = entries.data() + 8 * i;
      if (accept(le32(e), le32(e + 4))) return le32(e + 4);
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
  ByteSpan data_entry = mapper_->at(root + *language, 16);
  if (data_entry.empty()) {
    problem("version resource: data entry at RVA " + hex(root + *language) +
            " is outside the file");
    return;
  }
  const std::uint32_t data_rva = le32(data_entry.data());
  const std::uint32_t data_size = std::min<std::uint32_t>(le32(data_entry.data() + 4), 0xFFFF);
  ByteSpan all = mapper_->at(data_rva, data_size);
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
  if (top->value.size() >= 52 && le32(top->value.data()) == kFixedFileInfoSignature) {
    const std::byte* v = top->value.data();
    PeFixedFileInfo fixed;
    const auto split = [](std::uint32_t ms, std::uint32_t ls) {
      return std::array<std::uint16_t, 4>{
          static_cast<std::uint16_t>(ms >> 16), static_cast<std::uint16_t>(ms & 0xFFFF),
          static_cast<std::uint16_t>(ls >> 16), static_cast<std::uint16_t>(ls & 0xFFFF)};
    };
    fixed.file_version = split(le32(v + 8), le32(v + 12));
    fixed.product_version = split(le32(v + 16), le32(v + 20));
    fixed.file_flags = le32(v + 28);
    fixed.file_os = le32(v + 32);
    fixed.file_type = le32(v + 36);
    fixed.file_subtype = le32(v + 40);
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
          const std::uint32_t lang = le16(var.value.data());
          const std::uint32_t codepage = le16(var.value.data() + 2);
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
  image_.version = std::move(info);
}

// ---- Authenticode -----------------------------------------------------------------------------

// A minimal DER reader: definite lengths up to 4 bytes, single-byte tags. Enough for PKCS#7
// SignedData and X.509 names; BER indefinite lengths are refused.
struct Tlv {
  std::uint8_t tag = 0;
  ByteSpan whole;  // header and content
  ByteSpan content;
};

class Der {
 public:
  explicit Der(ByteSpan data) : data_(data) {}
  bool at_end() const { return pos_ >= data_.size(); }

  std::optional<Tlv> next() {
    if (pos_ + 2 > data_.size()) return std::nullopt;
    const std::size_t start = pos_;
    const auto tag = static_cast<std::uint8_t>(data_[pos_]);
    if ((tag & 0x1F) == 0x1F) return std::nullopt;  // multi-byte tags: not in PKCS#7/X.509 names
    std::size_t p = pos_ + 1;
    auto first = static_cast<std::uint8_t>(data_[p++]);
    std::uint64_t length = first;
    if (first & 0x80) {
      const std::size_t n = first & 0x7F;
      if (n == 0 || n > 4 || p + n > data_.size()) return std::nullopt;
      length = 0;
      for (std::size_t i = 0; i < n; ++i)
        length = (length << 8) | static_cast<std::uint8_t>(data_[p++]);
    }
    if (!fits(p, length, data_.size())) return std::nullopt;
    pos_ = p + static_cast<std::size_t>(length);
    return Tlv{tag, data_.subspan(start, pos_ - start),
               data_.subspan(p, static_cast<std::size_t>(length))};
  }

  std::optional<Tlv> expect(std::uint8_t tag) {
    auto t = next();
    if (!t || t->tag != tag) return std::nullopt;
    return t;
  }

  // The next element only if it has this tag (optional fields).
  std::optional<Tlv> optional(std::uint8_t tag) {
    if (pos_ < data_.size() && static_cast<std::uint8_t>(data_[pos_]) == tag) return next();
    return std::nullopt;
  }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

bool same_bytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

bool is_oid(ByteSpan content, std::initializer_list<std::uint8_t> expected) {
  if (content.size() != expected.size()) return false;
  std::size_t i = 0;
  for (std::uint8_t b : expected) {
    if (static_cast<std::uint8_t>(content[i++]) != b) return false;
  }
  return true;
}

std::string der_string(const Tlv& value) {
  switch (value.tag) {
    case 0x0C:  // UTF8String
      return clean_utf8(value.content);
    case 0x13:  // PrintableString
    case 0x16:  // IA5String
    case 0x14:  // T61String: treated as Latin-1, which is what signers put there in practice
      return latin1_to_utf8(value.content);
    case 0x1E:  // BMPString
      return utf16_to_utf8(value.content, true);
    case 0x1C: {  // UniversalString
      std::string out;
      for (std::size_t i = 0; i + 4 <= value.content.size(); i += 4) {
        const std::byte* p = value.content.data() + i;
        append_utf8(out, (static_cast<std::uint32_t>(p[0]) << 24) |
                             (static_cast<std::uint32_t>(p[1]) << 16) |
                             (static_cast<std::uint32_t>(p[2]) << 8) |
                             static_cast<std::uint32_t>(p[3]));
      }
      return out;
    }
    default:
      return {};
  }
}

// The first CN (2.5.4.3) and O (2.5.4.10) of an X.501 Name.
void read_name(ByteSpan name_content, std::string* common_name, std::string* organization) {
  Der rdns(name_content);
  while (auto rdn = rdns.expect(0x31)) {
    Der attributes(rdn->content);
    while (auto attribute = attributes.expect(0x30)) {
      Der parts(attribute->content);
      auto oid = parts.expect(0x06);
      auto value = parts.next();
      if (!oid || !value) continue;
      if (common_name && common_name->empty() && is_oid(oid->content, {0x55, 0x04, 0x03})) {
        *common_name = der_string(*value);
      } else if (organization && organization->empty() &&
                 is_oid(oid->content, {0x55, 0x04, 0x0A})) {
        *organization = der_string(*value);
      }
    }
  }
}

struct Certificate {
  ByteSpan serial;   // INTEGER content
  ByteSpan issuer;   // whole Name TLV
  ByteSpan subject;  // whole Name TLV
  ByteSpan subject_key_id;
};

std::optional<Certificate> read_certificate(ByteSpan whole) {
  Der outer(whole);
  auto cert = outer.expect(0x30);
  if (!cert) return std::nullopt;
  Der c(cert->content);
  auto tbs = c.expect(0x30);
  if (!tbs) return std::nullopt;
  Der t(tbs->content);
  t.optional(0xA0);  // version
  auto serial = t.expect(0x02);
  auto algorithm = t.expect(0x30);
  auto issuer = t.expect(0x30);
  auto validity = t.expect(0x30);
  auto subject = t.expect(0x30);
  auto key = t.expect(0x30);
  if (!serial || !algorithm || !issuer || !validity || !subject || !key) return std::nullopt;
  Certificate out{serial->content, issuer->whole, subject->whole, {}};
  t.optional(0xA1);
  t.optional(0xA2);
  if (auto extensions = t.optional(0xA3)) {
    Der list_outer(extensions->content);
    if (auto list = list_outer.expect(0x30)) {
      Der items(list->content);
      while (auto extension = items.expect(0x30)) {
        Der e(extension->content);
        auto oid = e.expect(0x06);
        e.optional(0x01);  // critical
        auto value = e.expect(0x04);
        if (oid && value && is_oid(oid->content, {0x55, 0x1D, 0x0E})) {  // subjectKeyIdentifier
          Der inner(value->content);
          if (auto id = inner.expect(0x04)) out.subject_key_id = id->content;
        }
      }
    }
  }
  return out;
}

std::string serial_hex(ByteSpan serial) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::size_t start = 0;
  while (start + 1 < serial.size() && serial[start] == std::byte{0}) ++start;
  std::string out;
  for (std::size_t i = start; i < serial.size(); ++i) {
    const auto b = static_cast<std::uint8_t>(serial[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// Walks ContentInfo -> SignedData -> certificates and the first SignerInfo. Returns why it failed.
std::optional<std::string> read_pkcs7(ByteSpan der, PeSignature& signature) {
  Der top(der);
  auto content_info = top.expect(0x30);
  if (!content_info) return "no ContentInfo SEQUENCE";
  Der ci(content_info->content);
  auto type = ci.expect(0x06);
  // 1.2.840.113549.1.7.2 signedData
  if (!type || !is_oid(type->content, {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02})) {
    return "ContentInfo is not signedData";
  }
  auto explicit_content = ci.expect(0xA0);
  if (!explicit_content) return "no [0] content in ContentInfo";
  Der wrapper(explicit_content->content);
  auto signed_data = wrapper.expect(0x30);
  if (!signed_data) return "no SignedData SEQUENCE";
  Der sd(signed_data->content);
  if (!sd.expect(0x02) || !sd.expect(0x31) || !sd.expect(0x30)) {
    return "SignedData lacks version, digestAlgorithms or contentInfo";
  }
  std::vector<Certificate> certificates;
  std::optional<Tlv> signer_infos;
  while (!sd.at_end()) {
    auto element = sd.next();
    if (!element) return "malformed SignedData element";
    if (element->tag == 0xA0) {
      Der list(element->content);
      while (!list.at_end() && certificates.size() < kMaxCertificates) {
        auto cert = list.next();
        if (!cert) break;
        ++signature.certificate_count;
        if (cert->tag != 0x30) continue;  // attribute certificates and the like
        if (auto parsed = read_certificate(cert->whole)) certificates.push_back(*parsed);
      }
    } else if (element->tag == 0x31) {
      signer_infos = element;
      break;
    }
  }
  if (!signer_infos) return "no signerInfos";
  Der infos(signer_infos->content);
  auto signer_info = infos.expect(0x30);
  if (!signer_info) return "no SignerInfo";
  Der si(signer_info->content);
  if (!si.expect(0x02)) return "SignerInfo has no version";
  auto sid = si.next();
  if (!sid) return "SignerInfo has no signer identifier";
  const Certificate* signer = nullptr;
  if (sid->tag == 0x30) {
    Der ias(sid->content);
    auto issuer = ias.expect(0x30);
    auto serial = ias.expect(0x02);
    if (issuer && serial) {
      for (const auto& cert : certificates) {
        if (same_bytes(cert.issuer, issuer->whole) && same_bytes(cert.serial, serial->content)) {
          signer = &cert;
          signature.signer_match = PeSignerMatch::kIssuerAndSerial;
          break;
        }
      }
    }
  } else if (sid->tag == 0x80) {
    for (const auto& cert : certificates) {
      if (!cert.subject_key_id.empty() && same_bytes(cert.subject_key_id, sid->content)) {
        signer = &cert;
        signature.signer_match = PeSignerMatch::kSubjectKeyIdentifier;
        break;
      }
    }
  }
  if (signer == nullptr && !certificates.empty()) {
    signer = &certificates.front();
    signature.signer_match = PeSignerMatch::kFirstCertificate;
  }
  if (signer == nullptr) return "no certificate in SignedData";
  Der subject(signer->subject);
  if (auto name = subject.expect(0x30)) {
    read_name(name->content, &signature.signer_common_name, &signature.signer_organization);
  }
  Der issuer(signer->issuer);
  if (auto name = issuer.expect(0x30)) {
    read_name(name->content, &signature.signer_issuer_common_name, nullptr);
  }
  signature.signer_serial = serial_hex(signer->serial);
  return std::nullopt;
}

void Parser::signature() {
  const PeDataDirectory dir = image_.directories[kDirSecurity];
  if (dir.rva == 0 || dir.size == 0) return;
  std::uint64_t end = static_cast<std::uint64_t>(dir.rva) + dir.size;
  if (dir.rva >= data_.size()) {
    problem("security directory at file offset " + hex(dir.rva) + " is past the end of the file");
    return;
  }
  if (end > data_.size()) {
    problem("security directory at file offset " + hex(dir.rva) + " (" + hex(dir.size) +
            " bytes) runs past the end of the file");
    end = data_.size();
  }
  std::uint64_t pos = dir.rva;
  for (std::size_t i = 0; i < kMaxWinCertificates && pos + 8 <= end; ++i) {
    const std::byte* w = data_.data() + pos;
    const std::uint32_t length = le32(w);
    if (length < 8 || length > end - pos) {
      problem("WIN_CERTIFICATE at " + hex(pos) + " has a bad length " + hex(length));
      return;
    }
    const std::uint16_t revision = le16(w + 4);
    const std::uint16_t type = le16(w + 6);
    if (type == kWinCertTypePkcsSignedData) {
      image_.signature.present = true;
      image_.signature.revision = revision;
      if (auto why = read_pkcs7(data_.subspan(pos + 8, length - 8), image_.signature)) {
        problem("Authenticode signature present but its PKCS#7 could not be read: " + *why);
      }
      return;
    }
    pos += (static_cast<std::uint64_t>(length) + 7) & ~std::uint64_t{7};
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
  if (auto ok = parser.headers(); !ok) return std::unexpected(ok.error());
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
