// Reader for Windows PE images (PE32 and PE32+, x86/x64/ARM64): headers, sections, imports,
// delay-load imports, exports, .pdata, the version resource and the Authenticode signer.
// Hostile files are normal input: every offset is bounds-checked, counts are capped, nothing runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace poolscope::parse {

using ByteSpan = std::span<const std::byte>;

inline constexpr std::uint16_t kMachineI386 = 0x014c;
inline constexpr std::uint16_t kMachineAmd64 = 0x8664;
inline constexpr std::uint16_t kMachineArm64 = 0xAA64;

// "x86", "x64", "arm64"; other machines as "0x01c4".
std::string pe_machine_name(std::uint16_t machine);

// Data directory indexes (IMAGE_DIRECTORY_ENTRY_*).
inline constexpr std::size_t kDirExport = 0;
inline constexpr std::size_t kDirImport = 1;
inline constexpr std::size_t kDirResource = 2;
inline constexpr std::size_t kDirException = 3;
inline constexpr std::size_t kDirSecurity = 4;  // its "RVA" is a file offset
inline constexpr std::size_t kDirBaseReloc = 5;
inline constexpr std::size_t kDirIat = 12;
inline constexpr std::size_t kDirDelayImport = 13;
inline constexpr std::size_t kDirCount = 16;

struct PeDataDirectory {
  std::uint32_t rva = 0;
  std::uint32_t size = 0;
};

inline constexpr std::uint32_t kSectionCode = 0x00000020;     // IMAGE_SCN_CNT_CODE
inline constexpr std::uint32_t kSectionExecute = 0x20000000;  // IMAGE_SCN_MEM_EXECUTE

struct PeSection {
  std::string name;  // the 8-byte name field up to its first NUL
  std::uint32_t virtual_address = 0;
  std::uint32_t virtual_size = 0;
  std::uint32_t raw_offset = 0;  // PointerToRawData
  std::uint32_t raw_size = 0;    // SizeOfRawData as declared (may run past the end of the file)
  std::uint32_t characteristics = 0;
};

struct PeImportedFunction {
  std::string name;                      // empty when imported by ordinal
  std::optional<std::uint16_t> ordinal;  // set when imported by ordinal
  std::uint16_t hint = 0;                // export-table hint of a by-name import
  // RVA of the function's IAT slot: x64 code calls it as `call [rip+disp]` with rip+disp equal to
  // image_base + iat_rva; x86 code as `call [image_base + iat_rva]`. For a delay-load import it is
  // the slot in the delay IAT.
  std::uint32_t iat_rva = 0;
  std::uint32_t lookup_rva = 0;  // its slot in the import lookup (name) table; 0 when there is none
};

struct PeImportModule {
  std::string dll;  // as written: "ntoskrnl.exe", "NDIS.SYS"
  bool delay_load = false;
  std::vector<PeImportedFunction> functions;  // in table order
};

struct PeExport {
  std::uint32_t ordinal = 0;  // Base + index, as GetProcAddress sees it
  std::string name;           // empty for an export by ordinal only
  std::uint32_t rva = 0;
  std::string forwarder;  // "NTOSKRNL.ExAllocatePool" when the RVA points into the export directory
};

// One x64 RUNTIME_FUNCTION of the exception directory: where a function starts and ends.
struct PeRuntimeFunction {
  std::uint32_t begin_rva = 0;
  std::uint32_t end_rva = 0;
  std::uint32_t unwind_rva = 0;
};

struct PeFixedFileInfo {
  std::array<std::uint16_t, 4> file_version{};  // 10.0.14393.187 -> {10, 0, 14393, 187}
  std::array<std::uint16_t, 4> product_version{};
  std::uint32_t file_flags = 0;
  std::uint32_t file_os = 0;
  std::uint32_t file_type = 0;  // VFT_DRV = 3 for drivers
  std::uint32_t file_subtype = 0;
};

struct PeVersionInfo {
  std::optional<PeFixedFileInfo> fixed;  // VS_FIXEDFILEINFO, when present and signed 0xFEEF04BD
  // The StringTable the strings come from ("040904b0"): the one named by the first Translation of
  // VarFileInfo, else the first.
  std::string language;
  // Well-known strings of that table (UTF-8, trailing NULs removed); empty when absent.
  std::string company_name;
  std::string file_description;
  std::string file_version;
  std::string product_name;
  std::string original_filename;
  std::vector<std::pair<std::string, std::string>> strings;  // every string of that table, in order
};

// How the signer certificate was picked out of the SignedData certificate set (which also holds the
// CA chain and the timestamping certificates).
enum class PeSignerMatch : std::uint8_t {
  kNone,                  // no signer found (no signature, or the DER could not be walked)
  kIssuerAndSerial,       // SignerInfo issuer + serial number equal to a certificate's
  kSubjectKeyIdentifier,  // SignerInfo subjectKeyIdentifier equal to a certificate's extension
  kFirstCertificate,      // no certificate matched: the first one of the set (a guess)
};

// Authenticode as far as reading goes: nothing is verified (no hash, no chain, no time check).
struct PeSignature {
  bool present = false;  // the security directory holds a WIN_CERTIFICATE of type PKCS#7 (0x0002)
  std::uint16_t revision = 0;           // of that WIN_CERTIFICATE (0x0200)
  std::uint32_t certificate_count = 0;  // X.509 certificates in the SignedData set
  PeSignerMatch signer_match = PeSignerMatch::kNone;
  std::string signer_common_name;         // subject CN of the signer certificate (UTF-8)
  std::string signer_organization;        // subject O
  std::string signer_issuer_common_name;  // issuer CN
  std::string signer_serial;              // serial number, upper-case hex without leading 00
};

struct PeImage {
  std::uint16_t machine = 0;
  bool pe32_plus = false;  // optional header magic 0x20b; false: PE32 (0x10b)
  std::uint16_t characteristics = 0;
  std::uint32_t timestamp = 0;
  std::uint64_t image_base = 0;
  std::uint32_t entry_point_rva = 0;
  std::uint32_t section_alignment = 0;
  std::uint32_t file_alignment = 0;
  std::uint32_t size_of_image = 0;
  std::uint32_t size_of_headers = 0;
  std::uint32_t checksum = 0;
  std::uint16_t subsystem = 0;  // 1 native (drivers), 2 GUI, 3 console
  std::uint16_t dll_characteristics = 0;
  std::uint64_t file_size = 0;
  std::array<PeDataDirectory, kDirCount> directories{};
  std::vector<PeSection> sections;  // in section-table order
  // Ordinary imports in descriptor order, then delay-load imports in descriptor order.
  std::vector<PeImportModule> imports;
  std::string export_name;  // the DLL name in the export directory
  std::vector<PeExport> exports;
  std::vector<PeRuntimeFunction> runtime_functions;  // x64 .pdata, in table order
  std::optional<PeVersionInfo> version;
  PeSignature signature;
  // Parts that could not be read completely ("import descriptor 3: name RVA 0x... is outside the
  // image"). The rest of the image is still valid; when this is not empty the result is partial.
  std::vector<std::string> problems;
};

struct PeOptions {
  bool imports = true;  // ordinary and delay-load
  bool exports = true;
  bool runtime_functions = true;
  bool version = true;
  bool signature = true;
};

// Fails when the headers cannot be read ("not a PE file: no MZ header", "truncated section table
// ..."); problems in the directories are listed in PeImage::problems instead.
Result<PeImage> parse_pe(ByteSpan data, const PeOptions& options = {});

// The file offset of [rva, rva + size) when it lies in the headers or in one section's raw data;
// nullopt when it is not backed by file bytes.
std::optional<std::uint64_t> pe_rva_to_offset(const PeImage& image, std::uint32_t rva,
                                              std::uint32_t size = 1);
// The section whose virtual range holds rva; nullptr when none.
const PeSection* pe_section_for_rva(const PeImage& image, std::uint32_t rva);
// The raw bytes of a section, clipped to the file and to its virtual size when that is smaller.
ByteSpan pe_section_bytes(const PeSection& section, ByteSpan data);
bool pe_section_is_code(const PeSection& section);

// The import of function from dll (dll compared ignoring ASCII case, function exactly), ordinary
// or delay-load; nullptr when the image does not import it by name.
const PeImportedFunction* pe_find_import(const PeImage& image, std::string_view dll,
                                         std::string_view function);

}  // namespace poolscope::parse
