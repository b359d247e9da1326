// CSV (RFC 4180) for every verb that prints a table: the one field quoting and line writer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace poolscope {

// A field as it goes into a line: quoted ("" for a quote inside) when it holds a comma, a quote
// or a line break, else as is.
std::string csv_field(std::string_view text);
// The fields quoted and joined by commas, ended by "\n" (the header and every row).
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace poolscope
