// The CSV of a verb whose table is also given as JSON: one row per record of a JSON array, the
// columns named by the JSON fields, so csv and json carry the same raw numbers (no KiB, no
// thousands separators).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace poolscope {

// `columns` are field names, "a.b" for a field of an object field; the header is the names with
// '.' as '_'. A missing or null field is an empty cell; a list of strings or numbers is one cell
// joined by "; "; any other object or list is its compact JSON. Quoting: core/csv.h.
std::string csv_of_records(const nlohmann::ordered_json& records,
                           const std::vector<std::string>& columns);

}  // namespace poolscope
