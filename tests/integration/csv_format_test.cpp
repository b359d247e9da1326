// Issue 20: `--format csv` wherever a table is printed (before: only snapshot and export; leaks,
// summary, drivers, who and trace refused it). Each verb's CSV is parsed here (RFC 4180) and its
// header and rows checked against the same real fixture's JSON: raw numbers, one writer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/verb_run.h"
#include "test_support.h"

namespace poolscope::testing {
namespace {

using json = nlohmann::json;
using Row = std::map<std::string, std::string>;

// RFC 4180: fields split on commas, quoted fields may hold commas, "" and line breaks.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n') {
      fields.push_back(std::move(field));
      field.clear();
      lines.push_back(std::move(fields));
      fields.clear();
      any = false;
    } else {
      field += c;
      any = true;
    }
  }
  if (any) {
    fields.push_back(std::move(field));
    lines.push_back(std::move(fields));
  }
  return lines;
}

struct Csv {
  std::vector<std::string> header;
  std::vector<Row> rows;
};

// The CSV a verb printed (stdout only; notes go to stderr), every line as wide as the header.
Csv csv_of(const std::vector<std::string>& args) {
  const VerbRun run = run_verb(args);
  EXPECT_EQ(run.code, 0) << run.out << run.err;
  Csv csv;
  const auto lines = parse_csv(run.out);
  if (lines.empty()) {
    ADD_FAILURE() << "no CSV from " << args[0] << ": " << run.err;
    return csv;
  }
  csv.header = lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].size(), csv.header.size()) << "line " << i << " of\n" << run.out;
    Row row;
    for (std::size_t c = 0; c < lines[i].size() && c < csv.header.size(); ++c)
      row[csv.header[c]] = lines[i][c];
    csv.rows.push_back(std::move(row));
  }
  return csv;
}

// The row has these fields with these values (others unchecked).
void expect_fields(const Row& row, const Row& expected) {
  for (const auto& [name, value] : expected) {
    auto it = row.find(name);
    ASSERT_NE(it, row.end()) << name;
    EXPECT_EQ(it->second, value) << name;
  }
}

json json_of(const std::vector<std::string>& args) {
  const VerbRun run = run_verb(args);
  EXPECT_EQ(run.code, 0) << run.err;
  return json::parse(run.out, nullptr, false);
}

// The wcsc family (microsoft/WSL#40804, tests/data/poolmon/wcsc_family), as DetectReal imports it.
std::string wcsc_recording(const TempDir& dir) {
  const std::string db = dir.file("wcsc.db");
  std::vector<std::string> args{"import", "--into", db};
  for (int i = 1; i <= 8; ++i)
    args.push_back(test_data(fmt::format("poolmon/wcsc_family/screen_{:02}.txt", i)).string());
  for (int i = 0; i < 8; ++i) {
    const int minutes = i * (16 * 60 + 50);
    args.push_back("--at");
    args.push_back(fmt::format("2026-08-{:02}T{:02}:{:02}:00Z", 20 + minutes / 1440,
                               minutes % 1440 / 60, minutes % 60));
  }
  EXPECT_EQ(run_verb(args).code, 0);
  return db;
}

TEST(CsvFormat, LeaksRefusedCsvNowPrintsFindingsAndConsumersRaw) {
  TempDir dir;
  const std::string db = wcsc_recording(dir);
  const Csv csv = csv_of({"leaks", db, "--no-owner", "--format", "csv"});
  ASSERT_GE(csv.header.size(), 5u);
  EXPECT_EQ(csv.header[0], "kind");
  EXPECT_EQ(csv.header[1], "key");
  const json report = json_of({"leaks", db, "--no-owner", "--format", "json"});
  std::vector<Row> findings, consumers;
  for (const auto& row : csv.rows) {
    (row.at("kind") == "finding" ? findings : consumers).push_back(row);
    EXPECT_TRUE(row.at("kind") == "finding" || row.at("kind") == "top_consumer") << row.at("kind");
  }
  ASSERT_EQ(findings.size(), report["findings"].size());
  ASSERT_EQ(findings.size(), 8u);
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const json& f = report["findings"][i];
    EXPECT_EQ(findings[i].at("key"), f["key"]);
    EXPECT_EQ(findings[i].at("verdict"), "leak");
    EXPECT_EQ(findings[i].at("start"), std::to_string(f["start"].get<long long>()));
    EXPECT_EQ(findings[i].at("end"), std::to_string(f["end"].get<long long>()));
    EXPECT_EQ(findings[i].at("incident"), "1");
    // Raw: no thousands separators, no units; the explanation (commas inside) stays one field.
    EXPECT_EQ(findings[i].at("end").find(','), std::string::npos);
    EXPECT_EQ(findings[i].at("explanation"), f["explanation"]);
  }
  ASSERT_EQ(consumers.size(), report["top_consumers"].size());
  EXPECT_EQ(consumers[0].at("key"), report["top_consumers"][0]["key"]);
  EXPECT_EQ(consumers[0].at("bytes"),
            std::to_string(report["top_consumers"][0]["bytes"].get<long long>()));
}

TEST(CsvFormat, SummaryRefusedCsvNowPrintsPoolsFailuresAndLargest) {
  const std::string vm = test_data("vm/win10_dynamic_pools.txt").string();
  const Csv csv = csv_of({"summary", "--source", vm, "--format", "csv"});
  ASSERT_EQ(csv.rows.size(), 3u);
  EXPECT_EQ(csv.rows[0].at("kind"), "pool");
  EXPECT_EQ(csv.rows[0].at("pool"), "nonpaged");
  EXPECT_EQ(csv.rows[0].at("bytes"), "206028800");  // 196.5 MiB in the table
  EXPECT_EQ(csv.rows[0].at("verdict"), "limit unknown");
  EXPECT_EQ(csv.rows[1].at("pool"), "paged");
  EXPECT_EQ(csv.rows[2].at("kind"), "failure");
  EXPECT_EQ(csv.rows[2].at("detail"), "1200 kernel stack PTE allocations have failed");

  const std::string slab = test_data("slabinfo/kernel_6_18_head.txt").string();
  const Csv linux = csv_of({"summary", "--source", slab, "--top", "2", "--format", "csv"});
  ASSERT_EQ(linux.rows.size(), 4u);
  expect_fields(linux.rows[2], {{"kind", "largest"},
                                {"key", "ext4_inode_cache"},
                                {"bytes", "47005696"},
                                {"outstanding", "40144"},
                                {"object_size", "1128"}});
}

TEST(CsvFormat, DriversRefusedCsvNowPrintsOneRowPerTag) {
  POOLSCOPE_REQUIRE_SHARED("drivers/windivert/WinDivert64.sys");
  const std::string dir = shared_data("drivers/windivert").string();
  const Csv csv = csv_of({"drivers", dir, "--format", "csv"});
  const json j = json_of({"drivers", dir, "--format", "json"});
  ASSERT_EQ(csv.rows.size(), j["drivers"][0]["tags"].size());
  ASSERT_EQ(csv.rows.size(), 2u);
  expect_fields(csv.rows[0], {{"file", "WinDivert64.sys"},
                              {"tag", "WDiv"},
                              {"confidence", "high"},
                              {"call_sites", "13"},
                              {"signer", "Nemea Mjukvaruutveckling AB"}});
  EXPECT_EQ(csv.rows[1].at("tag"), "WinD");
  // The KMDF note holds commas and quotes: one field, read back whole.
  EXPECT_EQ(csv.rows[1].at("note"), j["drivers"][0]["tags"][1]["note"]);
  EXPECT_NE(csv.rows[1].at("note").find("\"WinDivert64\""), std::string::npos);
}

TEST(CsvFormat, WhoTagRefusedCsvNowPrintsPooltagLinesAndOwners) {
  POOLSCOPE_REQUIRE_SHARED("drivers/winpmem/winpmem_x64.sys");
  const Csv csv =
      csv_of({"who", "PMEM", "--pooltag", test_data("pooltag/pooltag_owners.txt").string(),
              "--drivers", shared_data("drivers/winpmem").string(), "--format", "csv"});
  ASSERT_EQ(csv.rows.size(), 4u);
  EXPECT_EQ(csv.rows[0].at("kind"), "pooltag");
  EXPECT_EQ(csv.rows[0].at("binary"), "winpmem.sys");
  EXPECT_EQ(csv.rows[0].at("line"), "6");
  int owners = 0;
  for (const auto& row : csv.rows) {
    if (row.at("kind") != "owner") continue;
    ++owners;
    EXPECT_EQ(row.at("confidence"), "high");
    EXPECT_EQ(row.at("tag"), "PMEM");
    // "WDKTestCert Administrator,133758963446503213": a comma inside the signer.
    if (row.at("file").find("_test.sys") != std::string::npos) {
      EXPECT_EQ(row.at("signer"), "WDKTestCert Administrator,133758963446503213");
    }
  }
  EXPECT_EQ(owners, 3);
}

TEST(CsvFormat, WhoCacheRefusedCsvNowPrintsTheCacheRow) {
  const Csv csv = csv_of({"who", "--cache", "dentry", "--kallsyms",
                          test_data("kallsyms/kallsyms_small.txt").string(), "--format", "csv"});
  ASSERT_FALSE(csv.rows.empty());
  EXPECT_EQ(csv.header[0], "kind");
  EXPECT_EQ(csv.rows[0].at("kind"), "cache");
  EXPECT_EQ(csv.rows[0].at("cache"), "dentry");
  EXPECT_FALSE(csv.rows[0].at("explanation").empty());
}

TEST(CsvFormat, TraceRefusedCsvNowPrintsTheCallSites) {
  // trace --load of a Windows pool trace (fuzz/corpus/etl/pool_64.etl: built byte for byte from the
  // documented event layout; no public pool trace exists, see ../shared/data/real/etl/SOURCE.md).
  const std::string etl = test_data("../../fuzz/corpus/etl/pool_64.etl").string();
  const Csv csv = csv_of({"trace", "--load", etl, "--format", "csv"});
  ASSERT_EQ(csv.header, (std::vector<std::string>{"call_site", "module", "outstanding", "bytes",
                                                  "oldest_age_s", "growth_per_s", "tag", "pids"}));
  const json j = json_of({"trace", "--load", etl, "--format", "json"});
  ASSERT_EQ(csv.rows.size(), j["call_sites"].size());
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_EQ(csv.rows[0].at("call_site"), "big.sys+0x10");
  EXPECT_EQ(csv.rows[0].at("bytes"), "131072");  // 128.0 KiB in the table
  EXPECT_EQ(csv.rows[1].at("call_site"), "leaky.sys+0x2a0");
  EXPECT_EQ(csv.rows[1].at("outstanding"), "3");
  EXPECT_EQ(csv.rows[1].at("pids"), "100, 101");

  // trace --allocinfo (a /proc/allocinfo copy).
  const Csv allocinfo = csv_of({"trace", "--allocinfo", "--allocinfo-file",
                                test_data("trace/allocinfo.txt").string(), "--format", "csv"});
  ASSERT_EQ(allocinfo.header,
            (std::vector<std::string>{"function", "module", "file", "line", "bytes", "calls"}));
  ASSERT_FALSE(allocinfo.rows.empty());
  EXPECT_EQ(allocinfo.rows[0].at("function"), "alloc_slab_page");
  EXPECT_EQ(allocinfo.rows[0].at("bytes"), "8388608");
  EXPECT_EQ(allocinfo.rows[0].at("calls"), "2048");
}

}  // namespace
}  // namespace poolscope::testing
