// `drivers` and `who TAG` answers (driver_output.h).
#include "render/driver_output.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "attrib/flt_context.h"
#include "attrib/kmdf.h"
#include "attrib/pool_apis.h"
#include "render/owner_output.h"

namespace poolscope {

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

DriversReport drivers_report(const std::string& dir, const attrib::DriverTree& files, bool json) {
  DriversReport report;
  auto drivers = nlohmann::ordered_json::array();
  std::string table;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-6s %-5s %-5s %s\n", "DRIVER", "MACHINE", "TAGS",
                "SITES", "TAGS (high confidence) / UNTAGGED IMPORTS / NOTE");
  table += line;
  std::size_t read = 0;
  for (const auto& path : files.files) {
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
      report.localtag += display_key(tag.tag) + " - " + name + " - found by poolscope (" +
                         std::to_string(tag.call_sites.size()) + " call site" +
                         (tag.call_sites.size() == 1 ? "" : "s") + ")\n";
    }
    // A KMDF driver's framework objects carry its DriverPoolTag (high: set in its code) or its
    // service-name tag (medium: a rule).
    if (auto kmdf = attrib::kmdf_tag(file->image, file->bytes, path.stem().string(), true)) {
      const bool known =
          std::any_of(tags.begin(), tags.end(), [&](const auto& t) { return t.tag == kmdf->tag; });
      if (!known) {
        const bool high = kmdf->confidence == attrib::Confidence::kHigh;
        tags_json.push_back({{"tag", display_key(kmdf->tag)},
                             {"confidence", attrib::confidence_name(kmdf->confidence)},
                             {"call_sites", nlohmann::ordered_json::array()},
                             {"note", kmdf->note}});
        tag_list += (tag_list.empty() ? "" : " ") + display_key(kmdf->tag) +
                    (high ? "(KMDF DriverPoolTag)" : "(medium, KMDF)");
      }
    }
    // A minifilter's context registrations (high: the filter manager takes the tag from them).
    for (const auto& registered : attrib::flt_context_tags(file->image, file->bytes)) {
      const bool known = std::any_of(tags.begin(), tags.end(),
                                     [&](const auto& t) { return t.tag == registered.tag; });
      if (known) continue;
      tags_json.push_back({{"tag", display_key(registered.tag)},
                           {"confidence", "high"},
                           {"call_sites", nlohmann::ordered_json::array()},
                           {"note", registered.note}});
      tag_list += (tag_list.empty() ? "" : " ") + display_key(registered.tag) + "(FLT context)";
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
  const std::string searched =
      attrib::describe_driver_tree(dir, files) + "; " + std::to_string(read) + " read as PE files";
  auto notes = nlohmann::ordered_json::array();
  for (const auto& note : files.notes) notes.push_back(note);
  report.text =
      json ? nlohmann::ordered_json{{"folder", dir},
                                    {"searched", searched},
                                    {"files_read", read},
                                    {"tree_notes", notes},
                                    {"drivers", drivers}}
                     .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                 "\n"
           : table + searched + "\n";
  return report;
}

std::string who_tag_report(const PoolKey& tag, const std::optional<attrib::TagDatabase>& database,
                           const TagOwnerSearch& search, bool json) {
  nlohmann::ordered_json out;
  out["tag"] = display_key(tag);
  auto pooltag = nlohmann::ordered_json::array();
  auto near = nlohmann::ordered_json::array();
  if (database) {
    const auto found = database->lookup(tag);
    for (const auto* line : found.exact) pooltag.push_back(pooltag_line_json(*line, "exact"));
    for (const auto* line : found.wildcard) {
      pooltag.push_back(pooltag_line_json(*line, "wildcard"));
    }
    for (const auto* line : found.near_misses) {
      near.push_back(pooltag_line_json(*line, "case"));
    }
  }
  out["pooltag"] = pooltag;
  out["near_misses"] = near;
  auto owners = nlohmann::ordered_json::array();
  std::string table;
  auto searched = nlohmann::ordered_json::array();
  for (const auto& s : search.searched) searched.push_back(s);
  for (const auto& [dir, tree] : search.groups) {
    const attrib::DriverTree* files = &tree;
    std::size_t read = 0;
    for (const auto& path : files->files) {
      auto file = attrib::read_driver_file(path);
      if (!file) continue;  // not a PE file: nothing of it can own a tag
      ++read;
      if (!file->image.problems.empty()) {
        searched.push_back(path.string() + " is damaged (" + file->image.problems.front() +
                           "): its imports may be incomplete; the byte search still ran");
      }
      auto found = attrib::find_tag_in_driver(file->image, file->bytes, tag);
      if (!found || found->confidence == attrib::Confidence::kLow) {
        // A KMDF driver owns its DriverPoolTag (high) or its service-name tag by the framework's
        // rule (medium).
        auto kmdf = attrib::kmdf_tag(file->image, file->bytes, path.stem().string(), true);
        if (kmdf && kmdf->tag == tag) {
          if (found) kmdf->byte_offsets = found->byte_offsets;
          found = std::move(kmdf);
        }
      }
      if (!found) continue;
      nlohmann::ordered_json owner;
      owner["file"] = path.string();
      owner["confidence"] = attrib::confidence_name(found->confidence);
      owner["call_sites"] = call_sites_json(found->call_sites);
      if (found->confidence == attrib::Confidence::kLow) {
        owner["byte_offsets"] = found->byte_offsets;
      }
      if (!found->note.empty()) owner["note"] = found->note;
      add_driver_facts(*file, owner);
      owners.push_back(std::move(owner));
    }
    searched.push_back(attrib::describe_driver_tree(dir, *files) + "; " + std::to_string(read) +
                       " read as PE files");
    for (const auto& note : files->notes) searched.push_back(note);
  }
  // High-confidence owners first, then medium; the order within each stays the folder order.
  const auto rank = [](const nlohmann::ordered_json& owner) {
    return owner["confidence"] == "high" ? 0 : owner["confidence"] == "medium" ? 1 : 2;
  };
  std::stable_sort(owners.begin(), owners.end(),
                   [&rank](const auto& a, const auto& b) { return rank(a) < rank(b); });
  out["owners"] = owners;
  out["searched"] = searched;
  for (const auto& owner : owners) {
    const bool high = owner["confidence"] == "high";
    const bool low = owner["confidence"] == "low";
    const std::size_t n = low ? owner["byte_offsets"].size() : owner["call_sites"].size();
    const std::string version =
        owner["version"].is_null() ? "" : owner["version"]["file_version"].get<std::string>();
    const std::string signer = owner["signer"].is_null() ? "" : owner["signer"].get<std::string>();
    char line[512];
    std::snprintf(
        line, sizeof line, "  %-28s %-6s %4zu %-16s %s\n",
        std::filesystem::path(owner["file"].get<std::string>()).filename().string().c_str(),
        owner["confidence"].get<std::string>().c_str(), n, version.c_str(), signer.c_str());
    table += line;
    if ((!high || owner["call_sites"].empty()) && owner.contains("note")) {
      table += "    " + owner["note"].get<std::string>() + "\n";
    }
  }
  auto suggestions = nlohmann::ordered_json::array();
  if (owners.empty()) {
    if (!near.empty()) {
      suggestions.push_back(
          "tags are case-sensitive: pooltag.txt lists tags that differ only in case (see "
          "near_misses)");
    }
    if (!pooltag.empty()) {
      suggestions.push_back("pooltag.txt names its binary; search the folder that holds it");
    }
    suggestions.push_back("search more folders with --drivers (only .sys files are read)");
    if (!database) suggestions.push_back("pass --pooltag FILE for the Debugging Tools' list");
    out["suggestions"] = suggestions;
  }

  std::string text;
  if (json) {
    text = out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  } else {
    text = "tag " + display_key(tag) + "\n";
    if (!database) text += "pooltag.txt: not loaded (pass --pooltag FILE)\n";
    for (const auto& line : pooltag) {
      text += "pooltag.txt:" + std::to_string(line["line"].get<std::size_t>()) + " " +
              line["pattern"].get<std::string>() + " - " + line["binary"].get<std::string>() +
              " - " + line["description"].get<std::string>() + "\n";
    }
    for (const auto& line : near) {
      text += "near miss (another tag, differs in case): " + line["pattern"].get<std::string>() +
              " - " + line["binary"].get<std::string>() + " - " +
              line["description"].get<std::string>() + "\n";
    }
    if (database && pooltag.empty()) {
      text += "pooltag.txt: no line names " + display_key(tag) + "\n";
    }
    if (search.groups.empty() && !search.drivers_given) {
      text +=
          "drivers: not searched (none on this system; pass --drivers DIR, a copy of "
          "C:\\Windows\\System32\\drivers)\n";
    } else if (owners.empty()) {
      text += "no owner found in " + std::to_string(search.folders) + " folder(s)\n";
      for (const auto& s : searched) text += "  searched: " + s.get<std::string>() + "\n";
      for (const auto& s : suggestions) text += "  try: " + s.get<std::string>() + "\n";
    } else {
      char head[256];
      std::snprintf(head, sizeof head, "  %-28s %-6s %4s %-16s %s\n", "FILE", "CONF", "N",
                    "VERSION", "SIGNER");
      text +=
          "owners (high: a pool call passes the tag, N call sites; medium: a rule names it "
          "(KMDF); low: only a byte match, N occurrences):\n";
      text += head + table;
    }
  }
  return text;
}

}  // namespace poolscope
