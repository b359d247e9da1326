// The owner evidence of a report's findings and the page written to a file (see evidence.h).
#include "report/evidence.h"

#include <chrono>
#include <fstream>

#include "attrib/call_sites.h"
#include "attrib/driver_folder.h"
#include "core/forward_error.h"
#include "core/time_format.h"

namespace poolscope::report {

namespace {

std::string pooltag_text(const parse::PoolTagLine& line) {
  return "pooltag.txt:" + std::to_string(line.line) + " " + line.pattern + " - " +
         (line.binary.empty() ? "" : line.binary + " - ") + line.description;
}

}  // namespace

Result<std::vector<OwnerEvidence>> owner_evidence(const detect::Report& report,
                                                  const HtmlReportOptions& options) {
  const attrib::OwnerResolver* resolver = options.resolver;
  const std::vector<std::string>& drivers = options.drivers;
  std::vector<OwnerEvidence> out;
  std::vector<const detect::Finding*> tags;
  for (const detect::Finding& f : report.findings) {
    OwnerEvidence evidence{display_key(f.key), {}};
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
        evidence.lines.push_back("drivers not searched: " + options.drivers_advice +
                                 " (a copy of C:\\Windows\\System32\\drivers) to find the "
                                 "driver whose pool calls pass this tag");
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
    auto files = attrib::list_driver_files(dir);
    if (!files) return forward_error(files);
    for (const auto& path : *files) {
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
        const std::string version = attrib::driver_version_text(*file);
        const std::string signer = attrib::driver_signer_text(*file);
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

Result<HtmlReportSummary> write_html_report(const store::Recording& recording,
                                            const detect::History& history,
                                            const detect::Report& report,
                                            const std::string& out_path,
                                            const HtmlReportOptions& options) {
  auto input = load_report_input(recording);
  if (!input) return forward_error(input);
  if (!options.file_label.empty()) input->file = options.file_label;
  input->top = options.top;
  input->version = options.version;
  input->generated_at = format_utc(std::chrono::system_clock::now());
  auto owners = owner_evidence(report, options);
  if (!owners) return forward_error(owners);
  input->owners = std::move(*owners);
  if (history.samples() == 0 && input->events.empty() && input->counters.empty()) {
    return unexpected(Error{ErrorCode::kInput, 0,
                            recording.path() +
                                ": the recording has no samples, events or counters yet: "
                                "nothing to report (poolscope record / import fill it)"});
  }
  const std::string html = render_report(history, report, *input);
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out.write(html.data(), static_cast<std::streamsize>(html.size()));
  out.close();
  if (!out) {
    return unexpected(Error{ErrorCode::kEnvironment, 0,
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

}  // namespace poolscope::report
