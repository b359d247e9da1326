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

namespace poolscope::cli {

namespace {

std::string hex32(std::uint64_t value) {
  char buffer[24];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

nlohmann::ordered_json call_site_json(const attrib::CallSite& site) {
  nlohmann::ordered_json j;
  j["rva"] = hex32(site.rva);
  j["file_offset"] = site.file_offset ? nlohmann::ordered_json(*site.file_offset) : nullptr;
  j["api"] = site.api ? std::string(site.api->name) : std::string();
  j["pool_type"] = site.pool_type ? nlohmann::ordered_json(*site.pool_type) : nullptr;
  j["size"] = site.size ? nlohmann::ordered_json(*site.size) : nullptr;
  auto via = nlohmann::ordered_json::array();
  for (auto rva : site.via) via.push_back(hex32(rva));
  j["via"] = via;
  if (site.tag_file_offset) j["tag_file_offset"] = *site.tag_file_offset;
  if (!site.note.empty()) j["note"] = site.note;
  return j;
}

}  // namespace

void add_driver_facts(const attrib::DriverFile& file, nlohmann::ordered_json& out) {
  out["machine"] = parse::pe_machine_name(file.image.machine);
  if (file.image.version) {
    const auto& v = *file.image.version;
    out["version"] = {{"file_version", driver_version_text(file)},
                      {"file_version_string", v.file_version},
                      {"company_name", v.company_name},
                      {"file_description", v.file_description},
                      {"product_name", v.product_name}};
  } else {
    out["version"] = nullptr;
  }
  const std::string signer = driver_signer_text(file);
  out["signer"] = signer.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(signer);
}

nlohmann::ordered_json call_sites_json(const std::vector<attrib::CallSite>& sites) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& site : sites) out.push_back(call_site_json(site));
  return out;
}

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
  add_format_option(*verb, options->format, {"table", "json"}, "table or json");
  verb->add_option("--localtag", options->localtag,
                   "also write a localtag.txt (\"TAG - driver.sys - ...\" lines) to this file");
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto files = attrib::list_driver_tree(options->dir);
      if (!files) return report_error(files.error());
      auto drivers = nlohmann::ordered_json::array();
      std::string table;
      std::string localtag;
      char line[512];
      std::snprintf(line, sizeof line, "%-24s %-6s %-5s %-5s %s\n", "DRIVER", "MACHINE", "TAGS",
                    "SITES", "TAGS (high confidence) / UNTAGGED IMPORTS / NOTE");
      table += line;
      std::size_t read = 0;
      for (const auto& path : files->files) {
        auto file = attrib::read_driver_file(path);
        if (!file) {
          // A folder of drivers holds other files too; say which were skipped.
          std::fprintf(stderr, "poolscope: skipped %s\n", file.error().message.c_str());
          continue;
        }
        const auto scan = attrib::scan_call_sites(file->image, file->bytes);
        const auto tags = attrib::driver_tags(scan);
        ++read;
        const std::string name = path.filename().string();
        nlohmann::ordered_json d;
        d["file"] = name;
        d["path"] = path.string();
        add_driver_facts(*file, d);
        auto tags_json = nlohmann::ordered_json::array();
        std::string tag_list;
        std::size_t site_count = 0;
        for (const auto& tag : tags) {
          tags_json.push_back({{"tag", display_key(tag.tag)},
                               {"confidence", attrib::confidence_name(tag.confidence)},
                               {"call_sites", call_sites_json(tag.call_sites)}});
          tag_list += (tag_list.empty() ? "" : " ") + display_key(tag.tag);
          site_count += tag.call_sites.size();
          localtag += display_key(tag.tag) + " - " + name + " - found by poolscope (" +
                      std::to_string(tag.call_sites.size()) + " call site" +
                      (tag.call_sites.size() == 1 ? "" : "s") + ")\n";
        }
        // A KMDF driver's framework objects carry its service-name tag (medium: a rule).
        if (auto kmdf = attrib::kmdf_service_tag(file->image, path.stem().string(), true)) {
          const bool known = std::any_of(tags.begin(), tags.end(),
                                         [&](const auto& t) { return t.tag == kmdf->tag; });
          if (!known) {
            tags_json.push_back({{"tag", display_key(kmdf->tag)},
                                 {"confidence", "medium"},
                                 {"call_sites", nlohmann::ordered_json::array()},
                                 {"note", kmdf->note}});
            tag_list += (tag_list.empty() ? "" : " ") + display_key(kmdf->tag) + "(medium, KMDF)";
          }
        }
        d["tags"] = tags_json;
        auto untagged = nlohmann::ordered_json::array();
        std::string untagged_list;
        for (const auto& import : attrib::untagged_pool_imports(file->image)) {
          untagged.push_back(import.function->name);
          untagged_list += (untagged_list.empty() ? "" : ",") + import.function->name;
        }
        d["untagged_imports"] = untagged;
        if (!scan.note.empty()) d["call_site_note"] = scan.note;
        if (scan.damaged) d["damage"] = scan.damage;
        auto wrappers = nlohmann::ordered_json::array();
        for (const auto& w : scan.wrappers) {
          wrappers.push_back({{"function_rva", hex32(w.function_rva)},
                              {"parameter", w.parameter + 1},
                              {"api", std::string(w.api->name)},
                              {"depth", w.depth}});
        }
        d["wrappers"] = wrappers;
        drivers.push_back(std::move(d));
        std::string detail = tag_list;
        if (!untagged_list.empty())
          detail += (detail.empty() ? "" : " / ") + ("untagged: " + untagged_list);
        if (!scan.note.empty()) detail += (detail.empty() ? "" : " / ") + scan.note;
        if (scan.damaged) detail += (detail.empty() ? "" : " / ") + scan.damage;
        std::snprintf(line, sizeof line, "%-24s %-6s %5zu %5zu ", name.c_str(),
                      parse::pe_machine_name(file->image.machine).c_str(), tags.size(), site_count);
        table += line + detail + "\n";
      }
      if (!options->localtag.empty()) {
        std::ofstream out(options->localtag, std::ios::binary | std::ios::trunc);
        out << localtag;
        if (!out) {
          return report_error(Error{ErrorCode::kInput, 0, "cannot write " + options->localtag});
        }
      }
      const std::string searched = attrib::describe_driver_tree(options->dir, *files) + "; " +
                                   std::to_string(read) + " read as PE files";
      auto notes = nlohmann::ordered_json::array();
      for (const auto& note : files->notes) notes.push_back(note);
      const std::string text =
          options->format == "json"
              ? nlohmann::ordered_json{{"folder", options->dir},
                                       {"searched", searched},
                                       {"files_read", read},
                                       {"tree_notes", notes},
                                       {"drivers", drivers}}
                        .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                    "\n"
              : table + searched + "\n";
      if (options->format != "json") {
        for (const auto& note : files->notes) std::fprintf(stderr, "poolscope: %s\n", note.c_str());
      }
      std::fwrite(text.data(), 1, text.size(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
