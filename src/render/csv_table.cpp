// CSV of JSON records (see csv_table.h).
#include "render/csv_table.h"

#include <algorithm>

#include "core/csv.h"

namespace poolscope {

namespace {

const nlohmann::ordered_json* field_at(const nlohmann::ordered_json& record,
                                       const std::string& path) {
  const nlohmann::ordered_json* at = &record;
  std::size_t begin = 0;
  while (true) {
    const std::size_t dot = path.find('.', begin);
    const std::string name = path.substr(begin, dot == std::string::npos ? dot : dot - begin);
    if (!at->is_object()) return nullptr;
    auto it = at->find(name);
    if (it == at->end()) return nullptr;
    at = &*it;
    if (dot == std::string::npos) return at;
    begin = dot + 1;
  }
}

std::string scalar_text(const nlohmann::ordered_json& value) {
  if (value.is_null()) return {};
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string cell(const nlohmann::ordered_json* value) {
  if (!value) return {};
  if (value->is_array() &&
      std::all_of(value->begin(), value->end(), [](const auto& v) { return v.is_primitive(); })) {
    std::string out;
    for (const auto& v : *value) out += (out.empty() ? "" : "; ") + scalar_text(v);
    return out;
  }
  return scalar_text(*value);
}

}  // namespace

std::string csv_of_records(const nlohmann::ordered_json& records,
                           const std::vector<std::string>& columns) {
  std::vector<std::string> header;
  for (std::string name : columns) {
    std::replace(name.begin(), name.end(), '.', '_');
    header.push_back(std::move(name));
  }
  std::string out = csv_line(header);
  if (!records.is_array()) return out;
  for (const auto& record : records) {
    std::vector<std::string> row;
    for (const auto& column : columns) row.push_back(cell(field_at(record, column)));
    out += csv_line(row);
  }
  return out;
}

}  // namespace poolscope
