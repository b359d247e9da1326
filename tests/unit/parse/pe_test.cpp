#include "parse/pe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pe_builder.h"
#include "test_support.h"

namespace poolscope::parse {
namespace {

using testing::Bytes;
using testing::ImportName;
using testing::ImportSpec;
using testing::PeBuilder;

constexpr const char* kWineDir = "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows";

Bytes read_bytes(const std::filesystem::path& path) {
  std::string text = testing::read_file(path);
  Bytes out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

// The imports as "dll<TAB>function" lines, the format of the *.imports.tsv ground truth.
std::string imports_tsv(const PeImage& image) {
  std::string out;
  for (const auto& module : image.imports) {
    for (const auto& f : module.functions) {
      out +=
          module.dll + "\t" + (f.name.empty() ? "#" + std::to_string(*f.ordinal) : f.name) + "\n";
    }
  }
  return out;
}

// `call qword ptr [rip+disp32]` (FF 15) sites in code sections whose target is the IAT slot: what
// the call-site scanner will find with a disassembler; a byte scan suffices for these drivers.
std::size_t rip_calls_to(const PeImage& image, ByteSpan file, std::uint32_t iat_rva) {
  std::size_t count = 0;
  for (const auto& section : image.sections) {
    if (!pe_section_is_code(section)) continue;
    ByteSpan code = pe_section_bytes(section, file);
    for (std::size_t i = 0; i + 6 <= code.size(); ++i) {
      if (code[i] != std::byte{0xFF} || code[i + 1] != std::byte{0x15}) continue;
      const std::uint32_t disp = static_cast<std::uint32_t>(code[i + 2]) |
                                 (static_cast<std::uint32_t>(code[i + 3]) << 8) |
                                 (static_cast<std::uint32_t>(code[i + 4]) << 16) |
                                 (static_cast<std::uint32_t>(code[i + 5]) << 24);
      const std::int64_t next =
          static_cast<std::int64_t>(section.virtual_address) + static_cast<std::int64_t>(i) + 6;
      if (next + static_cast<std::int32_t>(disp) == iat_rva) ++count;
    }
  }
  return count;
}

// ---- Real files ---------------------------------------------------------------------------------

TEST(PeReal, WineDriversReproduceTheImportGroundTruthExactly) {
  POOLSCOPE_REQUIRE_SHARED("drivers/wine_imports");
  if (!std::filesystem::exists(kWineDir)) {
    GTEST_SKIP() << "needs " << kWineDir << " (Debian package wine64)";
  }
  std::size_t files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(testing::shared_data("drivers/wine_imports"))) {
    const std::string tsv_name = entry.path().filename().string();
    const std::string binary =
        tsv_name.substr(0, tsv_name.size() - std::string(".imports.tsv").size());
    SCOPED_TRACE(binary);
    Bytes bytes = read_bytes(std::filesystem::path(kWineDir) / binary);
    ASSERT_FALSE(bytes.empty());
    auto image = parse_pe(bytes);
    ASSERT_TRUE(image.has_value()) << image.error().message;
    EXPECT_EQ(imports_tsv(*image), testing::read_file(entry.path()));
    EXPECT_TRUE(image->problems.empty()) << image->problems.front();
    EXPECT_EQ(image->machine, kMachineAmd64);
    EXPECT_TRUE(image->pe32_plus);
    ++files;
  }
  EXPECT_EQ(files, 18u);  // 17 .sys files and ntoskrnl.exe
}

TEST(PeReal, WinDivertHeadersImportsVersionAndSigner) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  Bytes bytes = read_bytes(testing::shared_data("drivers/windivert/WinDivert64.sys"));
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_EQ(
      imports_tsv(*image),
      testing::read_file(testing::shared_data("drivers/windivert/WinDivert64.sys.imports.tsv")));
  EXPECT_TRUE(image->problems.empty());
  EXPECT_EQ(pe_machine_name(image->machine), "x64");
  EXPECT_EQ(image->image_base, 0x10000u);
  EXPECT_EQ(image->subsystem, 1);
  ASSERT_EQ(image->imports.size(), 4u);
  EXPECT_EQ(image->imports[1].dll, "NDIS.SYS");
  const PeImportedFunction* alloc = pe_find_import(*image, "NTOSKRNL.EXE", "ExAllocatePoolWithTag");
  ASSERT_NE(alloc, nullptr);
  EXPECT_EQ(alloc->iat_rva, 0x6160u);  // objdump: ntoskrnl.exe First Thunk 0x6110, 11th entry
  EXPECT_EQ(alloc->lookup_rva, 0xb1d8u + 10 * 8);
  // SOURCE.md: WDiv at 5 ExAllocatePoolWithTag call sites; each is `call [rip+X]` to that slot.
  EXPECT_EQ(rip_calls_to(*image, bytes, alloc->iat_rva), 5u);
  EXPECT_EQ(image->runtime_functions.size(), 43u);

  ASSERT_TRUE(image->version.has_value());
  const PeVersionInfo& v = *image->version;
  EXPECT_EQ(v.company_name, "Basil");
  EXPECT_EQ(v.file_description,
            "WinDivert https://reqrypt.org/windivert.html 1C5vZVSbizPeZ8ydTYhUfm4LA2cNwBfcYh");
  EXPECT_EQ(v.file_version, "1.2 built by: WinDDK");
  EXPECT_EQ(v.product_name, "WinDivert driver");
  EXPECT_EQ(v.original_filename, "WinDivert.sys");
  EXPECT_EQ(v.language, "040904B0");
  ASSERT_TRUE(v.fixed.has_value());
  EXPECT_EQ(v.fixed->file_version, (std::array<std::uint16_t, 4>{1, 0, 0, 0}));
  EXPECT_EQ(v.fixed->file_type, 3u);     // VFT_DRV
  EXPECT_EQ(v.fixed->file_subtype, 6u);  // VFT2_DRV_NETWORK

  // osslsigncode: the signer is the third of five certificates (after the timestamping CAs).
  const PeSignature& s = image->signature;
  EXPECT_TRUE(s.present);
  EXPECT_EQ(s.revision, 0x0200);
  EXPECT_EQ(s.certificate_count, 5u);
  EXPECT_EQ(s.signer_match, PeSignerMatch::kIssuerAndSerial);
  EXPECT_EQ(s.signer_common_name, "Nemea Mjukvaruutveckling AB");
  EXPECT_EQ(s.signer_organization, "Nemea Mjukvaruutveckling AB");
  EXPECT_EQ(s.signer_issuer_common_name, "DigiCert High Assurance Code Signing CA-1");
  EXPECT_EQ(s.signer_serial, "0A42F1E36868B72506EA5077BF7BBC5B");
}

TEST(PeReal, WinpmemX86IsPe32WithAbsoluteIatCalls) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x86.sys");
  Bytes bytes = read_bytes(testing::shared_data("drivers/winpmem/winpmem_x86.sys"));
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_EQ(
      imports_tsv(*image),
      testing::read_file(testing::shared_data("drivers/winpmem/winpmem_x86.sys.imports.tsv")));
  EXPECT_FALSE(image->pe32_plus);
  EXPECT_EQ(pe_machine_name(image->machine), "x86");
  EXPECT_EQ(image->image_base, 0x400000u);
  EXPECT_TRUE(image->runtime_functions.empty());  // x86 has no .pdata
  const PeImportedFunction* alloc = pe_find_import(*image, "ntoskrnl.exe", "ExAllocatePoolWithTag");
  ASSERT_NE(alloc, nullptr);
  EXPECT_EQ(alloc->iat_rva, 0x2104u);
  // x86 calls the slot by absolute address: FF 15 04 21 40 00 = call [0x402104], 11 times.
  const std::uint32_t va = static_cast<std::uint32_t>(image->image_base + alloc->iat_rva);
  const Bytes call = {std::byte{0xFF},
                      std::byte{0x15},
                      std::byte(va & 0xFF),
                      std::byte((va >> 8) & 0xFF),
                      std::byte((va >> 16) & 0xFF),
                      std::byte(va >> 24)};
  std::size_t sites = 0;
  for (auto it = bytes.begin();
       (it = std::search(it, bytes.end(), call.begin(), call.end())) != bytes.end(); ++it) {
    ++sites;
  }
  EXPECT_EQ(sites, 11u);
  EXPECT_TRUE(image->signature.present);
  EXPECT_EQ(image->signature.signer_common_name, "Binalyze LLC");
  EXPECT_EQ(image->signature.signer_organization, "Binalyze LLC");
  EXPECT_EQ(image->signature.signer_serial, "1B5EC28C23900FF153CD554B");
  EXPECT_EQ(image->signature.signer_issuer_common_name, "GlobalSign CodeSigning CA - G3");
  EXPECT_FALSE(image->version.has_value());
}

TEST(PeReal, WinpmemX64AndTestSignedCopy) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x64_test.sys");
  for (const char* name : {"winpmem_x64.sys", "winpmem_x64_test.sys"}) {
    SCOPED_TRACE(name);
    const auto path = testing::shared_data(std::string("drivers/winpmem/") + name);
    Bytes bytes = read_bytes(path);
    auto image = parse_pe(bytes);
    ASSERT_TRUE(image.has_value()) << image.error().message;
    EXPECT_EQ(imports_tsv(*image), testing::read_file(path.string() + ".imports.tsv"));
    EXPECT_TRUE(image->problems.empty());
  }
  auto image = parse_pe(read_bytes(testing::shared_data("drivers/winpmem/winpmem_x64_test.sys")));
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->signature.certificate_count, 1u);
  EXPECT_EQ(image->signature.signer_match, PeSignerMatch::kIssuerAndSerial);
  EXPECT_EQ(image->signature.signer_common_name, "WDKTestCert Administrator,133758963446503213");
  EXPECT_EQ(image->signature.signer_organization, "");
  EXPECT_EQ(image->signature.signer_serial, "728EFCDF90A91ABF4E889EE0E4AE62EA");
}

TEST(PeReal, WineKsecddVersionAndNtoskrnlExports) {
  if (!std::filesystem::exists(kWineDir)) {
    GTEST_SKIP() << "needs " << kWineDir << " (Debian package wine64)";
  }
  auto ksecdd = parse_pe(read_bytes(std::filesystem::path(kWineDir) / "ksecdd.sys"));
  ASSERT_TRUE(ksecdd.has_value());
  ASSERT_TRUE(ksecdd->version.has_value());
  EXPECT_EQ(ksecdd->version->company_name, "Microsoft Corporation");
  EXPECT_EQ(ksecdd->version->file_description, "Wine ksecdd.sys");
  EXPECT_EQ(ksecdd->version->file_version, "10.0.14393.187");
  EXPECT_EQ(ksecdd->version->product_name, "Wine");
  EXPECT_EQ(ksecdd->version->original_filename, "ksecdd.sys");
  ASSERT_TRUE(ksecdd->version->fixed.has_value());
  EXPECT_EQ(ksecdd->version->fixed->file_version,
            (std::array<std::uint16_t, 4>{10, 0, 14393, 187}));
  EXPECT_FALSE(ksecdd->signature.present);

  auto nt = parse_pe(read_bytes(std::filesystem::path(kWineDir) / "ntoskrnl.exe"));
  ASSERT_TRUE(nt.has_value());
  EXPECT_EQ(nt->export_name, "ntoskrnl.exe");
  EXPECT_EQ(nt->exports.size(), 1656u);  // objdump: Export Address Table 0x678
  const auto find = [&](std::string_view name) {
    return std::find_if(nt->exports.begin(), nt->exports.end(),
                        [&](const PeExport& e) { return e.name == name; });
  };
  ASSERT_NE(find("ExAllocatePool"), nt->exports.end());
  EXPECT_EQ(find("ExAllocatePool")->ordinal, 126u);
  EXPECT_EQ(find("ExAllocatePool")->rva, 0x13550u);
  EXPECT_EQ(find("ExAllocatePoolWithTag")->ordinal, 129u);
  EXPECT_EQ(find("ExAllocatePoolWithTag")->rva, 0xe6e0u);
  EXPECT_EQ(find("ExAllocatePool2"), nt->exports.end());  // Wine does not export it
  auto forwarded = find("NlsAnsiCodePage");
  ASSERT_NE(forwarded, nt->exports.end());
  EXPECT_EQ(forwarded->ordinal, 763u);
  EXPECT_EQ(forwarded->forwarder, "ntdll.NlsAnsiCodePage");
}

// ---- Built images -------------------------------------------------------------------------------

TEST(PeBuilt, ImportsByNameAndOrdinalWithExactSlots) {
  PeBuilder b;
  b.add_code(testing::raw({0xC3}));
  auto layout = b.add_imports({
      {"ntoskrnl.exe",
       {ImportName{"ExAllocatePoolWithTag", 0x1a2}, std::uint16_t{42},
        ImportName{"ExFreePoolWithTag", 7}}},
      {"HAL.dll", {ImportName{"KeStallExecutionProcessor", 3}}},
  });
  Bytes bytes = b.build();
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_TRUE(image->problems.empty());
  EXPECT_EQ(
      imports_tsv(*image),
      "ntoskrnl.exe\tExAllocatePoolWithTag\nntoskrnl.exe\t#42\nntoskrnl.exe\tExFreePoolWithTag\n"
      "HAL.dll\tKeStallExecutionProcessor\n");
  const auto& nt = image->imports[0];
  EXPECT_FALSE(nt.delay_load);
  EXPECT_EQ(nt.functions[0].hint, 0x1a2);
  EXPECT_FALSE(nt.functions[0].ordinal.has_value());
  EXPECT_EQ(nt.functions[1].ordinal, 42);
  EXPECT_EQ(nt.functions[1].name, "");
  for (std::size_t j = 0; j < 3; ++j) {
    EXPECT_EQ(nt.functions[j].iat_rva, layout.iat_rvas[0][j]);
    EXPECT_EQ(nt.functions[j].lookup_rva, layout.lookup_rvas[0][j]);
    EXPECT_NE(nt.functions[j].lookup_rva, 0u);
  }
  EXPECT_EQ(image->imports[1].functions[0].iat_rva, layout.iat_rvas[1][0]);
  EXPECT_EQ(pe_find_import(*image, "hal.DLL", "KeStallExecutionProcessor")->iat_rva,
            layout.iat_rvas[1][0]);
  EXPECT_EQ(pe_find_import(*image, "ntoskrnl.exe", "exallocatepoolwithtag"),
            nullptr);  // case matters
  ASSERT_EQ(image->sections.size(), 2u);
  EXPECT_EQ(image->sections[0].name, ".text");
  EXPECT_TRUE(pe_section_is_code(image->sections[0]));
  EXPECT_FALSE(pe_section_is_code(image->sections[1]));
  EXPECT_EQ(image->entry_point_rva, 0x1000u);
  EXPECT_EQ(image->image_base, 0x140000000u);
}

TEST(PeBuilt, Pe32ImportsWithoutLookupTableReadNamesFromTheIat) {
  PeBuilder b(false, kMachineI386);
  auto layout = b.add_imports(
      {{"ntoskrnl.exe", {ImportName{"ExAllocatePool", 1}, std::uint16_t{9}}, false, true}});
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_FALSE(image->pe32_plus);
  EXPECT_EQ(image->machine, kMachineI386);
  EXPECT_EQ(image->image_base, 0x10000u);
  ASSERT_EQ(image->imports.size(), 1u);
  ASSERT_EQ(image->imports[0].functions.size(), 2u);
  EXPECT_EQ(image->imports[0].functions[0].name, "ExAllocatePool");
  EXPECT_EQ(image->imports[0].functions[0].iat_rva, layout.iat_rvas[0][0]);
  EXPECT_EQ(image->imports[0].functions[0].lookup_rva, 0u);
  EXPECT_EQ(image->imports[0].functions[1].iat_rva, layout.iat_rvas[0][0] + 4);  // 4-byte thunks
  EXPECT_EQ(image->imports[0].functions[1].ordinal, 9);
}

TEST(PeBuilt, DelayLoadImportsWithRvaAndAddressAttributes) {
  for (bool addresses : {false, true}) {
    SCOPED_TRACE(addresses ? "VC6 virtual addresses" : "RVAs");
    // Virtual addresses in a 32-bit field only exist in PE32 images.
    PeBuilder b(!addresses, addresses ? kMachineI386 : kMachineAmd64);
    auto layout = b.add_imports({
        {"ntoskrnl.exe", {ImportName{"ExFreePool", 0}}},
        {"fltmgr.sys",
         {ImportName{"FltAllocatePoolAlignedWithTag", 5}, std::uint16_t{17}},
         true,
         false,
         addresses},
    });
    auto image = parse_pe(b.build());
    ASSERT_TRUE(image.has_value()) << image.error().message;
    EXPECT_TRUE(image->problems.empty()) << image->problems.front();
    ASSERT_EQ(image->imports.size(), 2u);
    EXPECT_FALSE(image->imports[0].delay_load);
    const auto& delayed = image->imports[1];
    EXPECT_TRUE(delayed.delay_load);
    EXPECT_EQ(delayed.dll, "fltmgr.sys");
    ASSERT_EQ(delayed.functions.size(), 2u);
    EXPECT_EQ(delayed.functions[0].name, "FltAllocatePoolAlignedWithTag");
    EXPECT_EQ(delayed.functions[0].hint, 5);
    EXPECT_EQ(delayed.functions[0].iat_rva, layout.iat_rvas[1][0]);
    EXPECT_EQ(delayed.functions[0].lookup_rva, layout.lookup_rvas[1][0]);
    EXPECT_EQ(delayed.functions[1].ordinal, 17);
    EXPECT_EQ(pe_find_import(*image, "FLTMGR.SYS", "FltAllocatePoolAlignedWithTag"),
              &delayed.functions[0]);
  }
}

TEST(PeBuilt, ExportsWithForwarderAndOrdinalOnly) {
  PeBuilder b;
  b.add_code(testing::raw({0xC3, 0xC3}));
  b.add_exports("mydrv.sys", 5,
                {{"Zeta", 0x1000, ""}, {"", 0x1001, ""}, {"Alpha", 0, "NTOSKRNL.ExAllocatePool"}});
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_TRUE(image->problems.empty());
  EXPECT_EQ(image->export_name, "mydrv.sys");
  ASSERT_EQ(image->exports.size(), 3u);
  EXPECT_EQ(image->exports[0].name, "Zeta");
  EXPECT_EQ(image->exports[0].ordinal, 5u);
  EXPECT_EQ(image->exports[0].rva, 0x1000u);
  EXPECT_EQ(image->exports[1].name, "");
  EXPECT_EQ(image->exports[1].ordinal, 6u);
  EXPECT_EQ(image->exports[2].name, "Alpha");
  EXPECT_EQ(image->exports[2].ordinal, 7u);
  EXPECT_EQ(image->exports[2].forwarder, "NTOSKRNL.ExAllocatePool");
}

TEST(PeBuilt, VersionResourcePicksTheTranslatedTableAndDecodesUtf16) {
  PeBuilder b;
  b.add_version_resource(
      testing::version_info({2, 5, 1234, 7},
                            {{u"040704b0", {{u"CompanyName", u"Deutsche Firma"}}},
                             {u"040904B0",
                              {{u"CompanyName", u"Soci\u00e9t\u00e9 \u00abTest\u00bb"},
                               {u"FileDescription", u"Pool \U0001F600 driver"},
                               {u"FileVersion", u"2.5.1234.7"},
                               {u"ProductName", u"PoolScope Test"},
                               {u"OriginalFilename", u"test.sys"},
                               {u"Comments", u""}}}},
                            std::pair<std::uint16_t, std::uint16_t>{0x0409, 0x04b0}));
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_TRUE(image->problems.empty()) << image->problems.front();
  ASSERT_TRUE(image->version.has_value());
  const auto& v = *image->version;
  EXPECT_EQ(v.language, "040904B0");  // named by Translation 0409/04b0, not the first table
  EXPECT_EQ(v.company_name, "Soci\xC3\xA9t\xC3\xA9 \xC2\xABTest\xC2\xBB");
  EXPECT_EQ(v.file_description, "Pool \xF0\x9F\x98\x80 driver");
  EXPECT_EQ(v.file_version, "2.5.1234.7");
  EXPECT_EQ(v.product_name, "PoolScope Test");
  EXPECT_EQ(v.original_filename, "test.sys");
  ASSERT_EQ(v.strings.size(), 6u);
  EXPECT_EQ(v.strings[5], (std::pair<std::string, std::string>{"Comments", ""}));
  ASSERT_TRUE(v.fixed.has_value());
  EXPECT_EQ(v.fixed->file_version, (std::array<std::uint16_t, 4>{2, 5, 1234, 7}));
  EXPECT_EQ(v.fixed->file_type, 3u);

  PeBuilder first;  // without Translation the first table is used
  first.add_version_resource(testing::version_info(
      {1, 0, 0, 0},
      {{u"040704b0", {{u"CompanyName", u"Erste"}}}, {u"040904b0", {{u"CompanyName", u"Second"}}}},
      std::nullopt));
  auto other = parse_pe(first.build());
  ASSERT_TRUE(other.has_value());
  ASSERT_TRUE(other->version.has_value());
  EXPECT_EQ(other->version->company_name, "Erste");
  EXPECT_EQ(other->version->language, "040704b0");
}

Bytes name_cn_o(std::string_view cn, std::string_view o) {
  return testing::x501_name({{0x06, testing::printable_string("US")},
                             {0x0A, testing::utf8_string(o)},
                             {0x03, testing::utf8_string(cn)}});
}

TEST(PeBuilt, SignerChosenByIssuerAndSerialAmongTheCertificates) {
  const Bytes ca = name_cn_o("Test Root CA", "Test CA Org");
  const Bytes tsa = name_cn_o("Test Timestamping", "TSA Org");
  const Bytes signer = name_cn_o("Pool Driver Vendor", "Vendor GmbH");
  const std::vector<Bytes> certs = {
      testing::certificate(testing::integer({0x01}), ca, tsa),
      testing::certificate(testing::integer({0x00, 0x9A, 0xBC}), ca, signer),
      testing::certificate(testing::integer({0x02}), ca, ca),
  };
  PeBuilder b;
  b.add_code(testing::raw({0xC3}));
  b.set_signature(
      testing::pkcs7_signed_data(certs, testing::seq({ca, testing::integer({0x00, 0x9A, 0xBC})})));
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value()) << image.error().message;
  EXPECT_TRUE(image->problems.empty()) << image->problems.front();
  const auto& s = image->signature;
  EXPECT_TRUE(s.present);
  EXPECT_EQ(s.revision, 0x0200);
  EXPECT_EQ(s.certificate_count, 3u);
  EXPECT_EQ(s.signer_match, PeSignerMatch::kIssuerAndSerial);
  EXPECT_EQ(s.signer_common_name, "Pool Driver Vendor");
  EXPECT_EQ(s.signer_organization, "Vendor GmbH");
  EXPECT_EQ(s.signer_issuer_common_name, "Test Root CA");
  EXPECT_EQ(s.signer_serial, "9ABC");
}

TEST(PeBuilt, SignerBySubjectKeyIdentifierOrFirstCertificate) {
  const Bytes ca = name_cn_o("CA", "CA Org");
  const std::vector<Bytes> certs = {
      testing::certificate(testing::integer({0x05}), ca, name_cn_o("First", "One")),
      testing::certificate(testing::integer({0x06}), ca, name_cn_o("Keyed", "Two"),
                           testing::raw({0xDE, 0xAD})),
  };
  PeBuilder by_key;
  by_key.set_signature(
      testing::pkcs7_signed_data(certs, testing::der(0x80, testing::raw({0xDE, 0xAD}))));
  auto image = parse_pe(by_key.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->signature.signer_match, PeSignerMatch::kSubjectKeyIdentifier);
  EXPECT_EQ(image->signature.signer_common_name, "Keyed");

  PeBuilder unmatched;  // serial 0x07 is in no certificate: the first one is reported, and says so
  unmatched.set_signature(
      testing::pkcs7_signed_data(certs, testing::seq({ca, testing::integer({0x07})})));
  image = parse_pe(unmatched.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(image->signature.signer_match, PeSignerMatch::kFirstCertificate);
  EXPECT_EQ(image->signature.signer_common_name, "First");
  EXPECT_EQ(image->signature.signer_organization, "One");
}

TEST(PeBuilt, SignatureOfAnotherTypeOrUnreadableDer) {
  PeBuilder x509;  // WIN_CERT_TYPE_X509 (1) is not Authenticode
  x509.set_signature(testing::raw({0x30, 0x00}), 1);
  auto image = parse_pe(x509.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_FALSE(image->signature.present);

  PeBuilder garbage;
  garbage.set_signature(testing::raw({0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}));
  image = parse_pe(garbage.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_TRUE(image->signature.present);
  EXPECT_EQ(image->signature.signer_match, PeSignerMatch::kNone);
  ASSERT_EQ(image->problems.size(), 1u);
  EXPECT_EQ(
      image->problems[0],
      "Authenticode signature present but its PKCS#7 could not be read: no ContentInfo SEQUENCE");
}

TEST(PeBuilt, ArmMachineAndRvaHelpers) {
  PeBuilder b(true, kMachineArm64);
  auto& text = b.add_code(testing::raw({0x1F, 0x20, 0x03, 0xD5}));  // nop
  text.virtual_size = 0x3000;  // bss-like tail without file bytes
  Bytes bytes = b.build();
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(pe_machine_name(image->machine), "arm64");
  EXPECT_EQ(pe_machine_name(0x1c4), "0x01c4");
  EXPECT_EQ(pe_rva_to_offset(*image, 0x1000), 0x400u);
  EXPECT_EQ(pe_rva_to_offset(*image, 0x1002, 2), 0x402u);
  EXPECT_EQ(pe_rva_to_offset(*image, 0x1000 + 0x200, 1), std::nullopt);  // beyond the raw data
  EXPECT_EQ(pe_rva_to_offset(*image, 0x40), 0x40u);                      // headers
  EXPECT_EQ(pe_section_for_rva(*image, 0x2fff), &image->sections[0]);
  EXPECT_EQ(pe_section_for_rva(*image, 0x4000), nullptr);
  EXPECT_EQ(pe_section_bytes(image->sections[0], bytes).size(), 0x200u);
}

// ---- Bad and hostile images ---------------------------------------------------------------------

std::string error_of(const Bytes& bytes) {
  auto image = parse_pe(bytes);
  return image ? std::string("(parsed)") : image.error().message;
}

TEST(PeHostile, HeaderErrorsSayWhatIsWrong) {
  EXPECT_EQ(error_of({}), "not a PE file: no MZ header");
  EXPECT_EQ(error_of(testing::ascii("ELF")), "not a PE file: no MZ header");
  EXPECT_EQ(error_of(testing::ascii("MZ")),
            "not a PE file: truncated DOS header (2 bytes, 64 needed)");
  Bytes good = PeBuilder().build();
  Bytes far = good;
  testing::put_u32(far, 0x3c, 0x7FFFFFF0);
  EXPECT_EQ(error_of(far), "not a PE file: e_lfanew 0x7ffffff0 points outside the file");
  Bytes no_sig = good;
  no_sig[0x41] = std::byte{'X'};
  EXPECT_EQ(error_of(no_sig), "not a PE file: no \"PE\\0\\0\" signature at 0x40");
  EXPECT_EQ(error_of(Bytes(good.begin(), good.begin() + 0x50)), "truncated PE file header at 0x44");
  EXPECT_EQ(error_of(Bytes(good.begin(), good.begin() + 0x80)),
            "truncated optional header at 0x58");
  Bytes rom = good;
  testing::put_u16(rom, PeBuilder::kOptionalHeader, 0x107);
  EXPECT_EQ(error_of(rom),
            "unsupported optional header magic 0x107 (0x10b PE32 or 0x20b PE32+ expected)");
  Bytes small = good;
  testing::put_u16(small, PeBuilder::kFileHeader + 16, 64);
  EXPECT_EQ(error_of(small), "optional header too small: SizeOfOptionalHeader 64, 112 needed");
  Bytes many = good;
  testing::put_u16(many, PeBuilder::kFileHeader + 2, 40);  // 40 sections do not fit in 0x400 bytes
  EXPECT_EQ(error_of(Bytes(many.begin(), many.begin() + 0x400)),
            "truncated section table: 40 sections declared at 0x148, the file holds 17");
}

TEST(PeHostile, HugeAndOverlappingSectionsAreClippedToTheFile) {
  PeBuilder b;
  auto& text = b.add_code(testing::raw({0xC3}));
  text.raw_size = 0xFFFFFFFF;
  text.virtual_size = 0xFFFFFFFF;
  auto layout = b.add_imports({{"a.dll", {ImportName{"F", 0}}}});
  Bytes bytes = b.build();
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value());
  // The first section claims the whole address space; the import section (higher RVA) overlaps it,
  // so the lower one answers and the imports point into .text's (zero) bytes: a problem, no crash.
  EXPECT_EQ(pe_section_for_rva(*image, layout.descriptors_rva), &image->sections[0]);
  EXPECT_EQ(pe_section_bytes(image->sections[0], bytes).size(), bytes.size() - 0x400);
  EXPECT_TRUE(image->imports.empty());
}

TEST(PeHostile, UnterminatedImportDirectoryIsAProblemNotACrash) {
  PeBuilder b;
  auto layout = b.add_imports({{"a.dll", {ImportName{"F", 0}}}});
  Bytes bytes = b.build();
  // Fill the terminating descriptor and everything after it in the section with 0x41 bytes.
  const std::size_t terminator = 0x400 + (layout.descriptors_rva - 0x1000) + 20;
  for (std::size_t i = terminator; i < 0x600; ++i) bytes[i] = std::byte{0x41};
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value());
  ASSERT_FALSE(image->problems.empty());
  EXPECT_EQ(image->imports.size(), 1u);
  EXPECT_NE(image->problems.back().find("is not terminated"), std::string::npos)
      << image->problems.back();
}

TEST(PeHostile, ManyDescriptorsSharingOneThunkTableAreCapped) {
  // 4,000 descriptors all naming the same 100-entry lookup table: 400,000 functions declared.
  PeBuilder b;
  auto& s = b.add_section(".idata", 0xC0000040);
  const std::uint32_t name = s.put_cstring("loop.dll");
  s.align(2);
  const std::uint32_t hint = s.put(testing::raw({0, 0, 'F', 0}));
  s.align(8);
  const std::uint32_t thunks = s.put_zeros(8 * 101);
  for (std::uint32_t j = 0; j < 100; ++j) s.set_u64(thunks + 8 * j, hint);
  const std::uint32_t descriptors = s.put_zeros(20 * 4001);
  for (std::uint32_t i = 0; i < 4000; ++i) {
    s.set_u32(descriptors + 20 * i, thunks);
    s.set_u32(descriptors + 20 * i + 12, name);
    s.set_u32(descriptors + 20 * i + 16, thunks);
  }
  b.set_directory(1, descriptors, 20);
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value());
  std::size_t functions = 0;
  for (const auto& m : image->imports) functions += m.functions.size();
  EXPECT_EQ(functions, 65536u);
  EXPECT_EQ(image->problems.back(), "more than 65536 imported functions; the rest is not read");
}

TEST(PeHostile, BadNamesAndThunksAreReported) {
  PeBuilder b;
  auto layout = b.add_imports({{"a.dll", {ImportName{"Good", 0}, ImportName{"Bad", 0}}}});
  auto& s = b.section(0);
  s.set_u64(layout.lookup_rvas[0][1], 0x7FFF0000);  // name RVA outside the image
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value());
  ASSERT_EQ(image->imports.size(), 1u);
  EXPECT_EQ(image->imports[0].functions.size(), 1u);
  ASSERT_EQ(image->problems.size(), 1u);
  EXPECT_EQ(image->problems[0],
            "import descriptor 0 (a.dll): hint/name RVA 0x7fff0000 is outside the file");

  s.set_u64(layout.lookup_rvas[0][1], 0x0000123400000000ull);  // neither ordinal nor 31-bit RVA
  image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_EQ(
      image->problems[0],
      "import descriptor 0 (a.dll): thunk 1 (0x123400000000) is neither an ordinal nor a name RVA");
}

TEST(PeHostile, ExportCountsBeyondTheFileAreCapped) {
  PeBuilder b;
  b.add_exports("x.sys", 1, {{"A", 0x1000, ""}});
  auto& s = b.section(0);
  s.set_u32(s.rva + 20, 0xFFFFFFFF);  // NumberOfFunctions
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_TRUE(image->exports.empty());
  ASSERT_EQ(image->problems.size(), 2u);
  EXPECT_EQ(image->problems[0],
            "export directory declares 4294967295 functions; only the first 65536 are read");
  EXPECT_NE(image->problems[1].find("export address table"), std::string::npos);
}

TEST(PeHostile, ResourceDirectoryLoopsAndBrokenVersionBlocks) {
  PeBuilder b;
  auto& s = b.add_section(".rsrc", 0x40000040);
  // The root's RT_VERSION entry points back at the root itself, at every level.
  s.put_zeros(24);
  s.set_u16(s.rva + 14, 1);
  s.set_u32(s.rva + 16, 16);
  s.set_u32(s.rva + 20, 0x80000000u);
  b.set_directory(2, s.rva, 24);
  auto image = parse_pe(b.build());
  ASSERT_TRUE(image.has_value());
  EXPECT_FALSE(image->version.has_value());
  ASSERT_EQ(image->problems.size(), 1u);
  EXPECT_EQ(image->problems[0],
            "version resource: RT_VERSION has no name and language entry leading to data");

  PeBuilder zero;  // a VS_VERSION_INFO whose children have wLength 0
  Bytes version =
      testing::version_info({1, 2, 3, 4}, {{u"040904b0", {{u"CompanyName", u"X"}}}}, std::nullopt);
  const std::size_t child = 40 + 52;  // header and key "VS_VERSION_INFO" padded, fixed info
  testing::put_u16(version, child, 0);
  zero.add_version_resource(version);
  image = parse_pe(zero.build());
  ASSERT_TRUE(image.has_value());
  ASSERT_TRUE(image->version.has_value());
  EXPECT_EQ(image->version->fixed->file_version, (std::array<std::uint16_t, 4>{1, 2, 3, 4}));
  EXPECT_TRUE(image->version->strings.empty());
}

TEST(PeHostile, SecurityDirectoryPastTheEnd) {
  Bytes bytes = PeBuilder().build();
  const std::uint32_t security = PeBuilder::kOptionalHeader + 112 + 8 * 4;
  testing::put_u32(bytes, security, 0x10000);
  testing::put_u32(bytes, security + 4, 0x100);
  auto image = parse_pe(bytes);
  ASSERT_TRUE(image.has_value());
  EXPECT_FALSE(image->signature.present);
  ASSERT_EQ(image->problems.size(), 1u);
  EXPECT_EQ(image->problems[0],
            "security directory at file offset 0x10000 is past the end of the file");
}

TEST(PeHostile, EveryTruncationOfARichImageParsesOrFails) {
  PeBuilder b;
  b.add_code(testing::raw({0xFF, 0x15, 0, 0, 0, 0, 0xC3}));
  b.add_imports(
      {{"ntoskrnl.exe", {ImportName{"ExAllocatePool", 1}}}, {"x.sys", {ImportName{"D", 2}}, true}});
  b.add_version_resource(
      testing::version_info({1, 0, 0, 0}, {{u"040904b0", {{u"ProductName", u"P"}}}}, std::nullopt));
  const Bytes ca = name_cn_o("CA", "O");
  b.set_signature(testing::pkcs7_signed_data({testing::certificate(testing::integer({1}), ca, ca)},
                                             testing::seq({ca, testing::integer({1})})));
  const Bytes full = b.build();
  auto whole = parse_pe(full);
  ASSERT_TRUE(whole.has_value());
  EXPECT_TRUE(whole->problems.empty()) << whole->problems.front();
  EXPECT_EQ(whole->signature.signer_common_name, "CA");
  for (std::size_t size = 0; size < full.size(); size += 7) {
    auto image = parse_pe(ByteSpan(full.data(), size));
    if (image) {
      EXPECT_LE(image->imports.size(), 2u);
    }
  }
}

// Writes the built images as fuzz corpus files when POOLSCOPE_WRITE_PE_CORPUS names a directory
// (the files in fuzz/corpus/pe/built_*.bin come from here).
TEST(PeBuilt, WritesCorpusWhenAsked) {
  const char* dir = std::getenv("POOLSCOPE_WRITE_PE_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "set POOLSCOPE_WRITE_PE_CORPUS=DIR to write the fuzz corpus";
  const auto write = [&](const std::string& name, const Bytes& bytes) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  };
  {
    PeBuilder b;
    b.add_code(testing::raw({0x41, 0xB8, 'W', 'D', 'i', 'v', 0xFF, 0x15, 0, 0, 0, 0, 0xC3}));
    b.add_imports({{"ntoskrnl.exe", {ImportName{"ExAllocatePoolWithTag", 1}, std::uint16_t{3}}},
                   {"fltmgr.sys", {ImportName{"FltAllocatePoolAlignedWithTag", 2}}, true}});
    b.add_exports("built.sys", 1, {{"DriverEntry", 0x1000, ""}, {"Fwd", 0, "ntoskrnl.ExFreePool"}});
    b.add_version_resource(testing::version_info(
        {1, 2, 3, 4}, {{u"040904b0", {{u"CompanyName", u"C"}, {u"ProductName", u"P"}}}},
        std::pair<std::uint16_t, std::uint16_t>{0x409, 0x4b0}));
    const Bytes ca = name_cn_o("CA", "O");
    b.set_signature(testing::pkcs7_signed_data(
        {testing::certificate(testing::integer({1}), ca, ca, testing::raw({1, 2}))},
        testing::seq({ca, testing::integer({1})})));
    write("built_x64_everything.bin", b.build());
  }
  {
    PeBuilder b(false, kMachineI386);
    b.add_code(testing::raw({0x68, 'P', 'M', 'E', 'M', 0xFF, 0x15, 0, 0, 0, 0, 0xC3}));
    b.add_imports({{"ntoskrnl.exe", {ImportName{"ExAllocatePool", 1}}, false, true},
                   {"hal.dll", {ImportName{"KfRaiseIrql", 1}}, true, false, true}});
    write("built_x86_no_lookup_vc6_delay.bin", b.build());
  }
  {
    PeBuilder b(true, kMachineArm64);
    b.add_code(testing::raw({0x1F, 0x20, 0x03, 0xD5}));
    b.add_imports({{"ntoskrnl.exe", {ImportName{"ExAllocatePool2", 1}}}});
    write("built_arm64.bin", b.build());
  }
}

}  // namespace
}  // namespace poolscope::parse
