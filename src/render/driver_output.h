// The answers of `drivers` and `who TAG` as JSON and text: every tag of every driver of a tree with
// the call sites that prove it, and the owners of one tag among the drivers (call sites, the KMDF
// service-name rule, byte matches) with its pooltag.txt lines.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attrib/call_sites.h"
#include "attrib/driver_folder.h"
#include "attrib/driver_tree.h"
#include "attrib/tag_database.h"

namespace poolscope {

// The machine, version and signer of one driver.
void add_driver_facts(const attrib::DriverFile& file, nlohmann::ordered_json& out);
nlohmann::ordered_json call_sites_json(const std::vector<attrib::CallSite>& sites);

// `drivers DIR`: the table or JSON of the tree's drivers, the localtag.txt lines, and the files it
// skipped (not PE files) for stderr.
struct DriversReport {
  std::string text;  // the table, or the JSON document
  std::string localtag;
  std::vector<std::string> skipped;
};
DriversReport drivers_report(const std::string& dir, const attrib::DriverTree& files, bool json);

// `who TAG`: the owners of tag among groups of drivers (a folder's tree, or the loaded modules),
// with the pooltag.txt lines (database: nullopt when not loaded). `searched` starts with notes of
// default folders this system lacks; `folders` counts the folders asked for.
struct TagOwnerSearch {
  std::vector<std::pair<std::string, attrib::DriverTree>> groups;
  std::vector<std::string> searched;
  std::size_t folders = 0;
  bool drivers_given = false;  // --drivers: else the platform's defaults (none on Linux)
};
std::string who_tag_report(const PoolKey& tag, const std::optional<attrib::TagDatabase>& database,
                           const TagOwnerSearch& search, bool json);

}  // namespace poolscope
