// Fuzzer for the PE reader (headers, imports, delay-load, exports, .pdata, version resource,
// Authenticode) and the helpers the call-site scanner uses on its result.
// Corpus: fuzz/corpus/pe/ holds small images from the test builder (tests/unit/parse/pe_test.cpp,
// POOLSCOPE_WRITE_PE_CORPUS=DIR) and tiny drivers built with mingw-w64 (see the report of issue 7);
// never third-party drivers.
#include "parse/pe.h"

#include <cstdint>
#include <span>

#include "attrib/pool_apis.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto image = poolscope::parse::parse_pe(bytes);
  if (!image) return 0;
  for (const auto& section : image->sections) {
    (void)poolscope::parse::pe_section_bytes(section, bytes);
    (void)poolscope::parse::pe_rva_to_offset(*image, section.virtual_address, section.raw_size);
  }
  for (const auto& module : image->imports) {
    for (const auto& function : module.functions) {
      (void)poolscope::parse::pe_rva_to_offset(*image, function.iat_rva, 8);
      (void)poolscope::parse::pe_section_for_rva(*image, function.iat_rva);
    }
  }
  (void)poolscope::attrib::untagged_pool_imports(*image);
  (void)poolscope::parse::pe_find_import(*image, "ntoskrnl.exe", "ExAllocatePoolWithTag");
  // The cheap path the scanner takes for a first pass.
  (void)poolscope::parse::parse_pe(bytes, {.exports = false, .version = false, .signature = false});
  return 0;
}
