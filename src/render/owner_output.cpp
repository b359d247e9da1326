// `who`'s answers as JSON and text (see owner_output.h).
#include "render/owner_output.h"

#include <cstdio>

#include "attrib/cache_explanations.h"

namespace poolscope {

namespace {

nlohmann::ordered_json symbol_json(const attrib::SymbolRef& ref) {
  nlohmann::ordered_json j;
  j["name"] = ref.name;
  j["type"] = std::string(1, ref.type);
  j["module"] = ref.module;
  if (ref.address != 0) {
    char buffer[24];
    std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(ref.address));
    j["address"] = buffer;
  } else {
    j["address"] = nullptr;
  }
  return j;
}

}  // namespace

nlohmann::ordered_json pooltag_line_json(const parse::PoolTagLine& line, const char* match) {
  return {{"pattern", line.pattern},
          {"match", match},
          {"binary", line.binary},
          {"description", line.description},
          {"line", line.line}};
}

nlohmann::ordered_json cache_owner_json(const attrib::SlabOwner& owner,
                                        const attrib::SlabFacts& facts,
                                        const attrib::KernelSymbols* symbols,
                                        const std::vector<std::string>& notes) {
  nlohmann::ordered_json out;
  out["cache"] = owner.cache;
  out["kind"] = "slab_cache";
  auto what = attrib::explain_cache(owner.cache);
  out["explanation"] = what ? nlohmann::ordered_json(*what) : nlohmann::ordered_json(nullptr);
  out["exists"] = owner.exists;
  out["aliases"] = owner.aliases;
  out["generic_kmalloc"] = owner.generic_kmalloc;
  out["owner"] = attrib::short_owner(owner);
  out["modules"] = owner.modules;
  out["confidence"] = owner.confidence
                          ? nlohmann::ordered_json(attrib::owner_confidence_name(*owner.confidence))
                          : nlohmann::ordered_json(nullptr);
  out["evidence"] = owner.evidence;
  auto pointers = nlohmann::ordered_json::array();
  for (const auto& ref : owner.cache_pointers) pointers.push_back(symbol_json(ref));
  out["cache_pointers"] = pointers;
  if (owner.constructor) {
    out["constructor"] = {{"function", owner.constructor->name},
                          {"module", owner.constructor->module},
                          {"text", facts.constructor}};
  } else {
    out["constructor"] = nullptr;
  }
  nlohmann::ordered_json callers;
  callers["available"] = owner.callers_available;
  callers["note"] = owner.callers_note;
  auto sites = nlohmann::ordered_json::array();
  for (const auto& site : owner.callers) {
    nlohmann::ordered_json j;
    j["count"] = site.count;
    j["function"] = site.function;
    j["offset"] = site.offset ? nlohmann::ordered_json(*site.offset) : nlohmann::ordered_json();
    j["module"] = site.module;
    j["details"] = site.details;
    j["stack"] = site.stack;
    sites.push_back(std::move(j));
  }
  callers["sites"] = std::move(sites);
  out["callers"] = std::move(callers);
  if (symbols) {
    out["kallsyms"] = {{"source", symbols->source()},
                       {"symbols", symbols->size()},
                       {"addresses_hidden", symbols->addresses_hidden()}};
  } else {
    out["kallsyms"] = nullptr;
  }
  out["notes"] = notes;
  return out;
}

std::string cache_owner_text(const attrib::SlabOwner& owner,
                             const std::vector<std::string>& notes) {
  std::string text = "cache " + owner.cache + " (Linux slab cache)\n";
  if (auto what = attrib::explain_cache(owner.cache)) text += "what: " + *what + "\n";
  if (!owner.aliases.empty()) {
    text += "merged with:";
    for (const auto& alias : owner.aliases) text += " " + alias;
    text += "\n";
  }
  const std::string short_text = attrib::short_owner(owner);
  text += "owner: " + (short_text.empty() ? std::string("unknown") : short_text);
  if (owner.confidence) {
    text += " (" + std::string(attrib::owner_confidence_name(*owner.confidence)) + ")";
  }
  text += "\n  " + owner.evidence + "\n";
  for (const auto& ref : owner.cache_pointers) {
    text +=
        "cache pointer: " + ref.name + " [" + ref.module + "] (" + std::string(1, ref.type) + ")\n";
  }
  if (owner.constructor) {
    text += "constructor: " + owner.constructor->name + " [" + owner.constructor->module + "]\n";
  }
  if (owner.callers_available && !owner.callers.empty()) {
    text += "callers (" + owner.callers_note + "):\n";
    for (const auto& site : owner.callers) {
      char line[512];
      std::snprintf(line, sizeof line, "  %8llu  %s [%s]  %s\n",
                    static_cast<unsigned long long>(site.count), site.function.c_str(),
                    site.module.c_str(), site.details.c_str());
      text += line;
    }
  } else {
    text += "callers: " + owner.callers_note + "\n";
  }
  for (const auto& note : notes) text += "note: " + note + "\n";
  return text;
}

}  // namespace poolscope
