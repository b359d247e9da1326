// Small statistics shared by the culprit search and the incident grouping.
#pragma once

#include <vector>

namespace poolscope::detect {

// Pearson correlation of x and y (same size); 0 when fewer than 3 points or either is constant.
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace poolscope::detect
