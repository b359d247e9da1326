#include "parse/pooltag_txt.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace poolscope::parse {
namespace {

const PoolTagLine& at_line(const ParsedPoolTags& parsed, std::size_t line) {
  for (const auto& e : parsed.entries) {
    if (e.line == line) return e;
  }
  throw std::runtime_error("no entry on line " + std::to_string(line));
}

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

TEST(PooltagTxt, FixtureQuirks) {
  auto text = testing::read_file(testing::test_data("pooltag/pooltag_small.txt"));
  auto parsed = parse_pooltag_txt(text);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  // Lines 8-10 and 12-39; the entry after the Ctrl-Z on line 46 is not read.
  EXPECT_EQ(parsed->entries.size(), 31u);
  ASSERT_EQ(parsed->diagnostics.size(), 2u);
  EXPECT_EQ(parsed->diagnostics[0].line, 44u);
  EXPECT_EQ(parsed->diagnostics[0].message,
            "expected a pool tag of 1 to 4 characters before \" - \", got \"ZlongTag\"");
  EXPECT_EQ(parsed->diagnostics[1].line, 45u);
  EXPECT_EQ(parsed->diagnostics[1].message,
            "expected a pool tag of 1 to 4 characters before \" - \", got \"\"");
  ASSERT_EQ(parsed->prose.size(), 2u);
  EXPECT_EQ(parsed->prose[0].line, 42u);
  EXPECT_EQ(parsed->prose[0].message, "<unknown>");
  EXPECT_EQ(parsed->prose[1].line, 43u);
  EXPECT_EQ(parsed->prose[1].message, "Zq notes: tags Zq00 through ZqFF are reserved");

  const auto& at = at_line(*parsed, 9);
  EXPECT_EQ(at.pattern, "@Ts");
  EXPECT_EQ(at.tag, tag_from_text("@Ts "));
  EXPECT_EQ(at.owner_kind, PoolTagOwnerKind::kUnknown);
  EXPECT_TRUE(at.modules.empty());

  const auto& zq = at_line(*parsed, 12);
  EXPECT_EQ(zq.pattern, "Zq");
  EXPECT_EQ(zq.tag.name, "Zq  ");
  EXPECT_FALSE(zq.wildcard);
  EXPECT_EQ(zq.binary, "nt!zq");
  EXPECT_EQ(zq.owner_kind, PoolTagOwnerKind::kNamed);
  EXPECT_EQ(zq.modules, (std::vector<PoolTagModule>{{"nt", "zq"}}));
  EXPECT_EQ(zq.description, "Zq manager allocations (catch-all)");

  EXPECT_TRUE(at_line(*parsed, 13).wildcard);
  EXPECT_EQ(at_line(*parsed, 16).description, "Zq extension blocks");  // indent trimmed
  EXPECT_EQ(at_line(*parsed, 20).pattern, "Zx*");
  EXPECT_TRUE(at_line(*parsed, 20).wildcard);
  EXPECT_EQ(at_line(*parsed, 21).owner_kind, PoolTagOwnerKind::kMultiple);

  const auto& mount = at_line(*parsed, 22);  // no binary column
  EXPECT_EQ(mount.binary, "");
  EXPECT_EQ(mount.owner_kind, PoolTagOwnerKind::kMissing);
  EXPECT_EQ(mount.description, "ZTag mount point");

  const auto& store = at_line(*parsed, 24);
  EXPECT_EQ(store.binary, "nt!zstore or zboost.sys");
  EXPECT_EQ(store.modules, (std::vector<PoolTagModule>{{"nt", "zstore"}, {"zboost.sys", ""}}));

  const auto& net = at_line(*parsed, 26);
  EXPECT_EQ(net.modules, (std::vector<PoolTagModule>{{"zvn50.sys", ""}, {"zvn60.sys", ""}}));
  EXPECT_EQ(net.description, "Zv network - send path - v2");

  EXPECT_EQ(at_line(*parsed, 27).modules, (std::vector<PoolTagModule>{{"zdevkm.sys", ""}}));
  EXPECT_EQ(at_line(*parsed, 28).tag.name, "Zf1 ");
  EXPECT_EQ(at_line(*parsed, 28).binary, "zflib.sys");
  EXPECT_EQ(at_line(*parsed, 29).pattern, "Zg4");
  EXPECT_EQ(at_line(*parsed, 30).binary, "zh.sys");
  EXPECT_EQ(at_line(*parsed, 31).modules, (std::vector<PoolTagModule>{{"FsLibZ", ""}}));
  EXPECT_EQ(at_line(*parsed, 32).description, "Zm image entry - allocated per session");
  EXPECT_EQ(at_line(*parsed, 33).tag, at_line(*parsed, 34).tag);
  EXPECT_EQ(at_line(*parsed, 35).pattern, "ReZo");
  EXPECT_EQ(at_line(*parsed, 36).pattern, "rem");  // "rem  - x.sys - ..." is an entry
  EXPECT_EQ(at_line(*parsed, 36).binary, "remtag.sys");
  EXPECT_EQ(at_line(*parsed, 37).binary, "tab.sys");
  EXPECT_EQ(at_line(*parsed, 37).description, "tab separated");
  EXPECT_EQ(at_line(*parsed, 38).binary, "zz.sys");  // two fields, the second names a file
  EXPECT_EQ(at_line(*parsed, 38).description, "");
  EXPECT_EQ(at_line(*parsed, 39).pattern, "Zy-1");
}

TEST(PooltagTxt, CrlfGivesTheSameEntries) {
  auto text = testing::read_file(testing::test_data("pooltag/pooltag_small.txt"));
  auto lf = parse_pooltag_txt(text);
  auto crlf_parsed = parse_pooltag_txt(crlf(text));
  ASSERT_TRUE(lf.has_value());
  ASSERT_TRUE(crlf_parsed.has_value());
  ASSERT_EQ(crlf_parsed->entries.size(), lf->entries.size());
  for (std::size_t i = 0; i < lf->entries.size(); ++i) {
    EXPECT_EQ(crlf_parsed->entries[i].tag, lf->entries[i].tag);
    EXPECT_EQ(crlf_parsed->entries[i].binary, lf->entries[i].binary);
    EXPECT_EQ(crlf_parsed->entries[i].description, lf->entries[i].description);
  }
  EXPECT_EQ(crlf_parsed->diagnostics.size(), 2u);
}

TEST(PooltagTxt, NoEntriesIsAnError) {
  for (std::string_view text : {"", "rem only\n// comments\n\n", "\x1a", "hello world\n"}) {
    auto parsed = parse_pooltag_txt(text);
    ASSERT_FALSE(parsed.has_value());
    EXPECT_EQ(parsed.error().message,
              "not a pooltag.txt: no \"<Tag> - <binary> - <Description>\" lines");
  }
  auto bom = parse_pooltag_txt("\xEF\xBB\xBFZbom - b.sys - after a byte order mark\n");
  ASSERT_TRUE(bom.has_value());
  EXPECT_EQ(bom->entries[0].pattern, "Zbom");
}

TEST(PooltagTxt, PatternMatching) {
  EXPECT_TRUE(pooltag_pattern_matches("Afd?", "AfdB"));
  EXPECT_FALSE(pooltag_pattern_matches("Afd?", "afdB"));
  EXPECT_TRUE(pooltag_pattern_matches_ignore_case("Afd?", "afdB"));
  EXPECT_TRUE(pooltag_pattern_matches("Bu*", "Bu  "));
  EXPECT_TRUE(pooltag_pattern_matches("Bu*", "Buxy"));
  EXPECT_FALSE(pooltag_pattern_matches("Bu*", "Bx  "));
  EXPECT_TRUE(pooltag_pattern_matches("CM??", "CM  "));
  EXPECT_TRUE(pooltag_pattern_matches("Ab?", "Abc "));  // padded: "Ab? "
  EXPECT_FALSE(pooltag_pattern_matches("Ab?", "Abcd"));
  EXPECT_TRUE(pooltag_pattern_matches("Cc", "Cc  "));
  EXPECT_FALSE(pooltag_pattern_matches("Cc", "Ccx "));
  EXPECT_TRUE(pooltag_pattern_matches("*", "\x01\x02\x03\x04"));
  EXPECT_FALSE(pooltag_pattern_matches("Toolong", "Tool"));
}

TEST(PooltagTxt, RealFile2023) {
  POOLSCOPE_REQUIRE_SHARED("pooltag/pooltag.txt");
  auto text = testing::read_file(testing::shared_data("pooltag/pooltag.txt"));
  auto parsed = parse_pooltag_txt(text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->entries.size(), 4613u);
  EXPECT_TRUE(parsed->diagnostics.empty());
  ASSERT_EQ(parsed->prose.size(), 2u);
  EXPECT_EQ(parsed->prose[0].line, 876u);  // an orphan indented "<unknown>"
  EXPECT_EQ(parsed->prose[1].message, "QUIC Allocation tags are Qc00 through QcFF");

  const auto& ntfc = at_line(*parsed, 2196);
  EXPECT_EQ(ntfc.pattern, "NtFC");
  EXPECT_EQ(ntfc.binary, "ntfs.sys");
  EXPECT_EQ(ntfc.description, "Create.c");
  const auto& atmp = at_line(*parsed, 138);
  EXPECT_EQ(atmp.pattern, "ATmp");
  EXPECT_EQ(atmp.owner_kind, PoolTagOwnerKind::kMissing);
  EXPECT_EQ(atmp.description, "AppTag mount point");
  const auto& cc = at_line(*parsed, 237);
  EXPECT_EQ(cc.tag.name, "Cc  ");
  EXPECT_EQ(cc.modules, (std::vector<PoolTagModule>{{"nt", "cc"}}));
  EXPECT_EQ(at_line(*parsed, 57).pattern, "Afd?");
  EXPECT_EQ(at_line(*parsed, 147).pattern, "Aml*");
  EXPECT_EQ(at_line(*parsed, 367).pattern, "CM??");
  EXPECT_EQ(at_line(*parsed, 314).owner_kind, PoolTagOwnerKind::kMultiple);  // CKRT
  EXPECT_EQ(at_line(*parsed, 3317).modules,
            (std::vector<PoolTagModule>{{"nt", "store"}, {"rdyboost.sys", ""}}));  // smCR
  EXPECT_EQ(at_line(*parsed, 1577).description, "Mm image entry - allocated per session");
  EXPECT_EQ(at_line(*parsed, 2903).pattern, "ReMo");
  EXPECT_EQ(at_line(*parsed, 20).tag.name, "@MP ");
  EXPECT_EQ(at_line(*parsed, 2075).description, "Call to ExAllocatePool without any pool tag");
  EXPECT_EQ(at_line(*parsed, 3642).pattern, "Tun4");      // "Tun4  - <unknown>   - ..."
  EXPECT_EQ(at_line(*parsed, 1100).binary, "tcpip.sys");  // "I4e -  tcpip.sys    - ..."
}

TEST(PooltagTxt, RealFile2018) {
  POOLSCOPE_REQUIRE_SHARED("pooltag/pooltag_PoolMonX_2018.txt");
  auto parsed = parse_pooltag_txt(
      testing::read_file(testing::shared_data("pooltag/pooltag_PoolMonX_2018.txt")));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->entries.size(), 4011u);
  EXPECT_TRUE(parsed->diagnostics.empty());
  EXPECT_TRUE(parsed->prose.empty());
}

}  // namespace
}  // namespace poolscope::parse
