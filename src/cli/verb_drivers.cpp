// `poolscope drivers DIR`: every pool tag of every driver in a folder, with the call sites that
// prove it, the untagged allocators ('None'), machine, version and signer; --localtag writes a
// localtag.txt for poolmon-style tools.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "attrib/call_sites.h"
#include "attrib/driver_tree.h"
#include "attrib/kmdf.h"
#include "attrib/pool_apis.h"
#include "cli/verbs.h"
#include "render/csv_table.h"
#include "render/driver_output.h"

namespace poolscope::cli {

namespace {

// `drivers --format csv`: one row per tag of each driver (a driver without tags: one row, tag
// empty), the call sites counted; from the JSON, so the numbers are the same.
std::string drivers_csv(const std::string& json) {
  const auto j = nlohmann::ordered_json::parse(json);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& driver : j["drivers"]) {
    nlohmann::ordered_json row = driver;
    row.erase("tags");
    if (row.contains("untagged_imports") && row["untagged_imports"].is_array())
      row["untagged_imports"] = row["untagged_imports"].size();
    const auto tags = driver.value("tags", nlohmann::ordered_json::array());
    if (tags.empty()) rows.push_back(row);
    for (const auto& tag : tags) {
      nlohmann::ordered_json tag_row = row;
      tag_row["tag"] = tag["tag"];
      tag_row["confidence"] = tag["confidence"];
      tag_row["call_sites"] = tag.value("call_sites", nlohmann::ordered_json::array()).size();
      tag_row["note"] = tag.value("note", "");
      rows.push_back(std::move(tag_row));
    }
  }
  return csv_of_records(
      rows, {"file", "path", "machine", "version.file_version", "version.company_name", "signer",
             "tag", "confidence", "call_sites", "untagged_imports", "note"});
}

}  // namespace

void add_drivers_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string dir;
    std::string format = "table";
    std::string localtag;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "drivers", "the pool tags of every driver in a folder, proven by their call sites");
  verb->add_option("dir", options->dir, "folder of drivers (its .sys files)")->required();
  add_format_option(*verb, options->format, kTableFormats,
                    "table (or text), json or csv (one row per tag of each driver)");
  verb->add_option("--localtag", options->localtag,
                   "also write a localtag.txt (\"TAG - driver.sys - ...\" lines) to this file");
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto files = attrib::list_driver_tree(options->dir);
      if (!files) return report_error(files.error());
      const DriversReport report = drivers_report(options->dir, *files, options->format != "table");
      for (const auto& skipped : report.skipped) {
        std::fprintf(stderr, "poolscope: skipped %s\n", skipped.c_str());
      }
      if (!options->localtag.empty()) {
        std::ofstream out(options->localtag, std::ios::binary | std::ios::trunc);
        out << report.localtag;
        if (!out) {
          return report_error(Error{ErrorCode::kInput, 0, "cannot write " + options->localtag});
        }
      }
      if (options->format != "json") {  // csv: the folder's notes as well
        for (const auto& note : files->notes) std::fprintf(stderr, "poolscope: %s\n", note.c_str());
      }
      const std::string out = options->format == "csv" ? drivers_csv(report.text) : report.text;
      std::fwrite(out.data(), 1, out.size(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
