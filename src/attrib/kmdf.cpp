// KMDF default pool tags.
#include "attrib/kmdf.h"

#include "parse/text.h"

namespace poolscope::attrib {

bool imports_wdf(const parse::PeImage& image) {
  for (const auto& module : image.imports) {
    if (!parse::equals_ignore_case(module.dll, "wdfldr.sys")) continue;
    for (const auto& function : module.functions) {
      if (function.name == "WdfVersionBind") return true;
    }
  }
  return false;
}

std::string kmdf_default_tag(std::string_view service_name) {
  std::string_view name = service_name;
  if (name.size() >= 3 && parse::equals_ignore_case(name.substr(0, 3), "WDF")) {
    name.remove_prefix(3);
  }
  if (name.size() < 4) return "FxDr";
  return std::string(name.substr(0, 4));
}

std::optional<DriverTag> kmdf_service_tag(const parse::PeImage& image,
                                          std::string_view service_name, bool name_is_image) {
  if (!imports_wdf(image) || service_name.empty()) return std::nullopt;
  DriverTag out;
  const std::string tag = kmdf_default_tag(service_name);
  out.tag = tag_from_text(tag);
  out.confidence = Confidence::kMedium;
  out.note =
      "KMDF driver (imports WdfVersionBind): unless it sets WDF_DRIVER_CONFIG."
      "DriverPoolTag, the framework tags its objects '" +
      tag + "', the first four characters of its service name \"" + std::string(service_name) +
      "\"" + (name_is_image ? " (the image name, standing in for the service name)" : "");
  return out;
}

}  // namespace poolscope::attrib
