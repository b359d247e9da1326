// `poolscope report`: a recording as one self-contained HTML page for the people who act on a
// finding (src/report renders it; this file gathers the owner evidence and writes the file).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/verbs.h"
#include "cli/version.h"
#include "core/time_format.h"
#include "detect/load.h"
#include "detect/output.h"
#include "report/page.h"

namespace poolscope::cli {

namespace {

std::string pooltag_text(const parse::PoolTagLine& line) {
  return "pooltag.txt:" + std::to_string(line.line) + " " + line.pattern + " - " +
         (line.binary.empty() ? "" : line.binary + " - ") + line.description;
}

// Per finding: what pooltag.txt says of its tag, which drivers pass it to a pool call, the owner
// the resolver found and the merged cache names.
Result<std::vector<report::OwnerEvidence>> owner_evidence(const detect::Report& report,
                                                          const attrib::OwnerResolver* resolver,
                                                          const std::vector<std::string>& drivers) {
  std::vector<report::OwnerEvidence> out;
  std::vector<const detect::Finding*> tags;
  for (const detect::Finding& f : report.findings) {
    report::OwnerEvidence evidence{display_key(f.key), {}};
    if (!f.owner.empty()) evidence.lines.push_back("owner: " + f.owner);
    if (!f.aliases.empty()) {
      std::string merged;
      for (const auto& a : f.aliases) merged += (merged.empty() ? "" : ", ") + a;
      evidence.lines.push_back("caches merged into this one: " + merged);
    }
    if (f.key.kind == KeyKind::kPoolTag) {
      tags.push_back(&f);
      const attrib::TagDatabase* db = resolver ? resolver->tag_database() : nullptr;
      if (db) {
        const auto found = db->lookup(f.key);
        for (const auto* line : found.exact) evidence.lines.push_back(pooltag_text(*line));
        for (const auto* line : found.wildcard) evidence.lines.push_back(pooltag_text(*line));
        for (const auto* line : found.near_misses) {
          evidence.lines.push_back("near miss (another tag, differs in case): " +
                                   pooltag_text(*line));
        }
        if (found.exact.empty() && found.wildcard.empty()) {
          evidence.lines.push_back("pooltag.txt does not list " + display_key(f.key));
        }
      } else {
        evidence.lines.push_back("pooltag.txt not loaded (pass --pooltag FILE)");
      }
      if (drivers.empty()) {
        evidence.lines.push_back(
            "drivers not searched: pass --drivers DIR (a copy of C:\\Windows\\System32\\drivers) "
            "to find the driver whose pool calls pass this tag");
      }
    } else if (f.owner.empty() || f.owner.ends_with('?')) {
      evidence.lines.push_back("poolscope who " + f.key.name +
                               " on the recorded machine gives the constructor, module and "
                               "recorded callers");
    }
    out.push_back(std::move(evidence));
  }
  if (tags.empty() || drivers.empty()) return out;
  // Each driver is read once and asked about every tag.
  std::vector<std::size_t> found_in(tags.size(), 0);
  for (const auto& dir : drivers) {
    auto files = list_driver_files(dir);
    if (!files) return std::unexpected(files.error());
    for (const auto& path : files->files) {
      auto file = attrib::read_driver_file(path);
      if (!file) continue;  // not a PE file: nothing of it can own a tag
      for (std::size_t i = 0; i < tags.size(); ++i) {
        auto tag = attrib::find_tag_in_driver(file->image, file->bytes, tags[i]->key);
        if (!tag) continue;
        ++found_in[i];
        std::string line = path.filename().string() + ": ";
        if (tag->confidence == attrib::Confidence::kHigh) {
          line += "high confidence, " + std::to_string(tag->call_sites.size()) +
                  " pool call site(s) pass the tag";
        } else {
          line += "low confidence, the 4 bytes occur " + std::to_string(tag->byte_offsets.size()) +
                  " time(s) but no pool call passes them";
        }
        const std::string version = driver_version_text(*file);
        const std::string signer = driver_signer_text(*file);
        if (!version.empty()) line += "; version " + version;
        if (!signer.empty()) line += "; signed by " + signer;
        if (!tag->note.empty()) line += "; " + tag->note;
        for (auto& evidence : out) {
          if (evidence.key == display_key(tags[i]->key)) evidence.lines.push_back(line);
        }
      }
    }
  }
  for (std::size_t i = 0; i < tags.size(); ++i) {
    if (found_in[i] > 0) continue;
    for (auto& evidence : out) {
      if (evidence.key == display_key(tags[i]->key)) {
        evidence.lines.push_back("no driver in the --drivers folder(s) passes or contains " +
                                 evidence.key + " (only .sys files are read)");
      }
    }
  }
  return out;
}

// report.html for pools.db: next to it, with the extension replaced.
std::string default_output(const std::string& recording) {
  std::filesystem::path out(recording);
  out.replace_extension(".html");
  if (out == std::filesystem::path(recording)) out = recording + ".report.html";
  return out.string();
}

}  // namespace

Result<HtmlReportSummary> write_html_report(const store::Recording& recording,
                                            const detect::History& history,
                                            const detect::Report& report,
                                            const std::string& out_path,
                                            const HtmlReportOptions& options) {
  auto input = report::load_report_input(recording);
  if (!input) return std::unexpected(input.error());
  if (!options.file_label.empty()) input->file = options.file_label;
  input->top = options.top;
  input->version = std::string(kVersion);
  input->generated_at = format_utc(std::chrono::system_clock::now());
  auto owners = owner_evidence(report, options.resolver, options.drivers);
  if (!owners) return std::unexpected(owners.error());
  input->owners = std::move(*owners);
  if (history.samples() == 0 && input->events.empty() && input->counters.empty()) {
    return std::unexpected(Error{ErrorCode::kInput, 0,
                                 recording.path() +
                                     ": the recording has no samples, events or counters yet: "
                                     "nothing to report (poolscope record / import fill it)"});
  }
  const std::string html = report::render_report(history, report, *input);
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(html.data(), static_cast<std::streamsize>(html.size()));
  out.close();
  if (!out) {
    return std::unexpected(Error{ErrorCode::kEnvironment, 0,
                                 "cannot write " + out_path +
                                     " (a folder that exists and is writable, and free space; "
                                     "choose another with -o)"});
  }
  HtmlReportSummary summary;
  summary.bytes = html.size();
  summary.events = input->events.size();
  summary.counters = input->counters.size();
  return summary;
}

void add_report_verb(CLI::App& app, VerbMain& run) {
  struct Options {
    std::string file;
    std::string out;
    std::vector<std::string> drivers;
    bool no_processes = false;
    detect::DetectorOptions detector;
    OwnerOptions owner;
  };
  auto options = std::make_shared<Options>();
  CLI::App* verb = app.add_subcommand(
      "report",
      "write a recording as one self-contained HTML page: verdict, pool totals, top growers, "
      "each finding's trend, forecast and culprit, events, owner evidence, next steps");
  verb->add_option("file", options->file, "a recording (poolscope record / import / diagnose)")
      ->required();
  verb->add_option("--out,-o", options->out,
                   "the HTML file to write (default: next to FILE, FILE's name with .html); an "
                   "existing file is replaced");
  verb->add_option("--drivers", options->drivers,
                   "folder of Windows drivers to search for the findings' tags (repeatable)");
  verb->add_flag("--no-processes", options->no_processes,
                 "do not search the recorded process facts for a culprit");
  add_detector_options(*verb, options->detector);
  add_owner_options(*verb, options->owner);
  verb->callback([&run, options] {
    run = [options]() -> int {
      auto recording = store::Recording::open_read(options->file);
      if (!recording) return report_error(recording.error());
      auto history = detect::load_history(*recording, {.processes = !options->no_processes});
      if (!history) return report_error(history.error());
      detect::Report report = detect::analyze(*history, options->detector);
      std::optional<attrib::OwnerResolver> resolver;
      if (!options->owner.no_owner) {
        auto loaded = make_report_owner_resolver(options->owner);
        if (!loaded) return report_error(loaded.error());
        resolver = std::move(*loaded);
        fill_report_owners(report, *resolver);
      }
      const std::string out = options->out.empty() ? default_output(options->file) : options->out;
      HtmlReportOptions html;
      html.top = options->detector.top;
      html.drivers = options->drivers;
      html.resolver = resolver ? &*resolver : nullptr;
      html.file_label = options->file;
      auto written = write_html_report(*recording, *history, report, out, html);
      if (!written) return report_error(written.error());
      std::size_t leaks = 0, suspects = 0;
      for (const auto& f : report.findings) {
        (f.verdict == detect::Verdict::kLeak ? leaks : suspects)++;
      }
      std::printf(
          "poolscope: wrote %s (%s): %zu leak(s), %zu suspect(s) in %lld sample(s) over %s; "
          "%zu event(s), %zu counter(s); open it in a browser\n",
          out.c_str(), human_bytes(written->bytes).c_str(), leaks, suspects,
          static_cast<long long>(history->samples()),
          detect::duration_text(history->last_time() - history->first_time()).c_str(),
          written->events, written->counters);
      return kExitOk;
    };
  });
}

}  // namespace poolscope::cli
