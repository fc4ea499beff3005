#pragma once
// Number lists with ranges on the command line: "0.1,0.2,0.5", "0.05:0.6:0.05" (start:stop:step, stop
// included when the steps reach it to within 1e-9 of a step), or a mix ("0,0.05:0.3:0.05,0.5"). Range values
// are start + k*step rounded to 12 decimal places, so 0.05:0.6:0.05 gives 0.15, not 0.15000000000000002.
// Every failure is an InputError naming the option, the text and what was expected.
#include <string>
#include <string_view>
#include <vector>

namespace cartpk::cli {

std::vector<double> parse_number_ranges(std::string_view text, const std::string& option);

}  // namespace cartpk::cli
