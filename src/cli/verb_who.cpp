// `poolscope who TAG`: the owners of a pool tag: what pooltag.txt says, and which drivers pass the
// tag to a pool call (high confidence, with the call sites) or merely contain its bytes (low).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "attrib/call_sites.h"
#include "attrib/driver_search.h"
#include "attrib/kmdf.h"
#include "attrib/slab_owner.h"
#include "attrib/tag_database.h"
#include "cli/verbs.h"
#include "export/owner_output.h"
#include "source/host.h"

namespace poolscope::cli {

namespace {

// The rule for `who NAME`: --cache makes it a slab cache; --drivers or --pooltag make it a pool
// tag; otherwise a name longer than 4 bytes (no tag is) is a cache, and a name of 1 to 4 bytes is a
// cache on Linux when the kernel has a cache of that name ("TCP", "pid", "filp"), else a tag.
bool is_slab_cache_argument(const std::string& name, bool force_cache, bool asks_for_tag,
                            const attrib::SlabSysfsPaths& paths) {
  if (force_cache) return true;
  if (asks_for_tag) return false;
  if (name.size() > 4) return true;
  if (name.empty() || !host::has_slab_sysfs()) return false;
  std::error_code ec;
  return name.find('/') == std::string::npos && name != "." && name != ".." &&
         std::filesystem::exists(paths.sys_slab / name, ec);
}

// `who CACHE`: what the kernel's symbols and /sys/kernel/slab say about a slab cache.
int run_who_cache(const std::string& cache, const std::string& kallsyms_path,
                  const std::string& format) {
  std::optional<attrib::KernelSymbols> symbols;
  std::string symbols_note;
  const std::string path = !kallsyms_path.empty()     ? kallsyms_path
                           : host::default_kallsyms() ? host::default_kallsyms()->string()
                                                      : std::string();
  if (!path.empty()) {
    auto loaded = attrib::load_kernel_symbols(path);
    if (loaded) {
      symbols = std::move(*loaded);
      if (symbols->addresses_hidden()) {
        symbols_note =
            "kallsyms addresses are hidden (kptr_restrict; run as root to see them): "
            "names and modules still work";
      }
    } else if (!kallsyms_path.empty()) {
      return report_error(loaded.error());  // asked for by name: not reading it is an error
    } else {
      symbols_note = loaded.error().message;
    }
  } else {
    symbols_note = "kernel symbols not loaded: pass --kallsyms FILE (a copy of /proc/kallsyms)";
  }
  const attrib::SlabFacts facts =
      host::has_slab_sysfs() ? attrib::read_slab_facts(cache) : attrib::SlabFacts{};
  const attrib::SlabOwner owner = attrib::slab_owner(cache, facts, symbols ? &*symbols : nullptr);
  std::vector<std::string> notes = owner.notes;
  if (!symbols_note.empty()) notes.insert(notes.begin(), symbols_note);
  if (!owner.exists && host::has_slab_sysfs() && kallsyms_path.empty()) {
    // Asked about this machine, which has no such cache: an error, with the names it may mean.
    std::string message = "this kernel has no slab cache named \"" + cache + "\"";
    const auto close = attrib::close_names(cache, attrib::list_slab_caches());
    if (!close.empty()) {
      message += "; close matches:";
      for (const auto& name : close) message += " " + name;
    }
    message += " (poolscope snapshot lists the caches; --kallsyms FILE asks about another machine)";
    return report_error(Error{ErrorCode::kUsage, 0, message});
  }
  const std::string text =
      format != "json"
          ? cache_owner_text(owner, notes)
          : cache_owner_json(owner, facts, symbols ? &*symbols : nullptr, notes)
                    .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

}  // namespace

void add_who_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string tag;
    std::vector<std::string> drivers;
    std::string pooltag;
    std::string format = "table";
    bool allow_bad_lines = false;
    std::string kallsyms;
    bool cache = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "who", "who owns a pool tag: pooltag.txt and the drivers whose pool calls pass it");
  verb->add_option("tag", options->tag,
                   "the pool tag, case-sensitive (\"NtFc\", \"None\", \"Io\"), or a Linux slab "
                   "cache (\"ext4_inode_cache\", \"kmalloc-64\"): a name longer than 4 characters "
                   "is a cache, a shorter one when the kernel has such a cache; --drivers or "
                   "--pooltag make it a tag")
      ->required();
  verb->add_flag("--cache", options->cache, "NAME is a Linux slab cache, whatever its length");
  verb->add_option("--kallsyms", options->kallsyms,
                   "kernel symbols for a slab cache (default on Linux: /proc/kallsyms)");
  verb->add_option("--drivers", options->drivers,
                   "folder of drivers to search (repeatable); default on Windows: "
                   "%SystemRoot%\\System32\\drivers");
  verb->add_option("--pooltag", options->pooltag,
                   "pooltag.txt of the Debugging Tools (found automatically on Windows)");
  add_format_option(*verb, options->format, {"table", "json"}, "table or json");
  verb->add_flag("--allow-bad-lines", options->allow_bad_lines,
                 "skip malformed pooltag.txt lines instead of failing");
  verb->callback([&run, options] {
    run = [options]() -> int {
      if (is_slab_cache_argument(options->tag, options->cache,
                                 !options->drivers.empty() || !options->pooltag.empty(), {})) {
        return run_who_cache(options->tag, options->kallsyms, options->format);
      }
      if (options->tag.empty() || options->tag.size() > 4) {
        return report_error(Error{ErrorCode::kUsage, 0,
                                  "a pool tag is 1 to 4 characters, got \"" + options->tag + "\""});
      }
      const PoolKey tag = tag_from_text(options->tag);
      std::vector<std::string> dirs = options->drivers;
      // No folder given: the platform's default (Windows: the loaded modules, System32\drivers
      // and the DriverStore; attrib/driver_search.h), none elsewhere.
      attrib::DriverSearch defaults;
      if (dirs.empty()) {
        defaults = attrib::default_driver_search();
        // No drivers to search (Linux) but a pooltag.txt: its lines are the answer.
        if (defaults.roots.empty() && defaults.files.empty() && options->pooltag.empty()) {
          return report_error(Error{ErrorCode::kUsage, 0,
                                    "pass --drivers DIR: the folder of Windows drivers to search "
                                    "(e.g. a copy of C:\\Windows\\System32\\drivers)"});
        }
        for (const auto& root : defaults.roots) dirs.push_back(root.string());
      }
      std::optional<std::filesystem::path> pooltag_path;
      if (!options->pooltag.empty()) {
        pooltag_path = options->pooltag;
      } else {
        pooltag_path = host::default_pooltag();
      }
      std::optional<attrib::TagDatabase> database;
      if (pooltag_path) {
        auto loaded = attrib::load_tag_database(*pooltag_path, {options->allow_bad_lines});
        if (!loaded) return report_error(loaded.error());
        database = std::move(*loaded);
      }

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
      // The loaded modules' own files (outside the default folders) as one more group.
      std::vector<std::pair<std::string, attrib::DriverTree>> groups;
      for (const auto& dir : dirs) {
        auto files = attrib::list_driver_tree(dir);
        if (!files) {
          if (!options->drivers.empty()) return report_error(files.error());
          searched.push_back(files.error().message);  // a default folder this system lacks
          continue;
        }
        groups.emplace_back(dir, std::move(*files));
      }
      if (!defaults.files.empty()) {
        attrib::DriverTree loaded;
        loaded.files = defaults.files;
        groups.emplace_back("the loaded kernel modules", std::move(loaded));
      }
      for (const auto& note : defaults.notes) searched.push_back(note);
      for (const auto& [dir, tree] : groups) {
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
            // A KMDF driver owns its service-name tag by the framework's rule (medium).
            auto kmdf = attrib::kmdf_service_tag(file->image, path.stem().string(), true);
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
        const std::string signer =
            owner["signer"].is_null() ? "" : owner["signer"].get<std::string>();
        char line[512];
        std::snprintf(
            line, sizeof line, "  %-28s %-6s %4zu %-16s %s\n",
            std::filesystem::path(owner["file"].get<std::string>()).filename().string().c_str(),
            owner["confidence"].get<std::string>().c_str(), n, version.c_str(), signer.c_str());
        table += line;
        if (!high && owner.contains("note")) {
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
      if (options->format == "json") {
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
          text +=
              "near miss (another tag, differs in case): " + line["pattern"].get<std::string>() +
              " - " + line["binary"].get<std::string>() + " - " +
              line["description"].get<std::string>() + "\n";
        }
        if (database && pooltag.empty()) {
          text += "pooltag.txt: no line names " + display_key(tag) + "\n";
        }
        if (groups.empty() && options->drivers.empty()) {
          text +=
              "drivers: not searched (none on this system; pass --drivers DIR, a copy of "
              "C:\\Windows\\System32\\drivers)\n";
        } else if (owners.empty()) {
          text += "no owner found in " + std::to_string(dirs.size()) + " folder(s)\n";
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
      std::fwrite(text.data(), 1, text.size(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
