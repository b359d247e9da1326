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
#include "render/csv_table.h"
#include "render/driver_output.h"
#include "render/owner_output.h"
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

// `who CACHE --format csv`: one row for the cache (owner, confidence, evidence), one per cache
// pointer symbol, the constructor and each recorded caller (column kind).
std::string cache_owner_csv(const nlohmann::ordered_json& j) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  nlohmann::ordered_json cache_row = j;
  cache_row["kind"] = "cache";
  rows.push_back(std::move(cache_row));
  for (const auto& pointer : j.value("cache_pointers", nlohmann::ordered_json::array())) {
    nlohmann::ordered_json row = pointer;
    row["kind"] = "cache_pointer";
    row["cache"] = j["cache"];
    rows.push_back(std::move(row));
  }
  if (j.contains("constructor") && j["constructor"].is_object()) {
    nlohmann::ordered_json row = j["constructor"];
    row["kind"] = "constructor";
    row["cache"] = j["cache"];
    rows.push_back(std::move(row));
  }
  for (const auto& site : j["callers"].value("sites", nlohmann::ordered_json::array())) {
    nlohmann::ordered_json row = site;
    row["kind"] = "caller";
    row["cache"] = j["cache"];
    row["name"] = site["function"];
    rows.push_back(std::move(row));
  }
  return csv_of_records(rows, {"kind", "cache", "explanation", "owner", "confidence", "evidence",
                               "name", "module", "offset", "count", "details"});
}

// `who TAG --format csv`: one row per pooltag.txt line and near miss (kind pooltag, near_miss)
// and per driver that holds the tag (kind owner, its call sites counted).
std::string tag_owner_csv(const nlohmann::ordered_json& j) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& [kind, list] :
       {std::pair{"pooltag", "pooltag"}, {"near_miss", "near_misses"}, {"owner", "owners"}}) {
    for (const auto& record : j.value(list, nlohmann::ordered_json::array())) {
      nlohmann::ordered_json row{{"kind", kind}, {"tag", j["tag"]}};
      row.update(record);
      if (row.contains("call_sites") && row["call_sites"].is_array())
        row["call_sites"] = row["call_sites"].size();
      rows.push_back(std::move(row));
    }
  }
  return csv_of_records(rows,
                        {"kind", "tag", "pattern", "match", "binary", "description", "line", "file",
                         "confidence", "call_sites", "machine", "version.file_version", "signer"});
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
    std::string message = attrib::no_such_cache_message(
        cache, attrib::close_names(cache, attrib::list_slab_caches()));
    message.insert(message.size() - 1, "; --kallsyms FILE asks about another machine");
    return report_error(Error{ErrorCode::kUsage, 0, message});
  }
  std::string text;
  if (format == "table") {
    text = cache_owner_text(owner, notes);
  } else {
    const auto j = cache_owner_json(owner, facts, symbols ? &*symbols : nullptr, notes);
    text = format == "csv"
               ? cache_owner_csv(j)
               : j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    if (format == "csv") {
      for (const auto& note : notes) std::fprintf(stderr, "note: %s\n", note.c_str());
    }
  }
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
  add_format_option(*verb, options->format, kTableFormats, "table (or text), json or csv");
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

      TagOwnerSearch search;
      search.folders = dirs.size();
      search.drivers_given = !options->drivers.empty();
      // The loaded modules' own files (outside the default folders) as one more group.
      for (const auto& dir : dirs) {
        auto files = attrib::list_driver_tree(dir);
        if (!files) {
          if (!options->drivers.empty()) return report_error(files.error());
          search.searched.push_back(files.error().message);  // a default folder this system lacks
          continue;
        }
        search.groups.emplace_back(dir, std::move(*files));
      }
      if (!defaults.files.empty()) {
        attrib::DriverTree loaded;
        loaded.files = defaults.files;
        search.groups.emplace_back("the loaded kernel modules", std::move(loaded));
      }
      for (const auto& note : defaults.notes) search.searched.push_back(note);
      std::string text = who_tag_report(tag, database, search, options->format != "table");
      if (options->format == "csv") text = tag_owner_csv(nlohmann::ordered_json::parse(text));
      std::fwrite(text.data(), 1, text.size(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
