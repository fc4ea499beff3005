#include "tools/value_ranges.hpp"

#include <cmath>

#include "pkmodel/errors.hpp"
#include "tools/cli_values.hpp"

namespace cartpk::cli {

namespace {
constexpr double kMaxValues = 100000;

void expand_range(const std::string& entry, const std::string& option, std::vector<double>& values) {
  const auto parts = split(entry, ':');
  if (parts.size() != 3)
    throw InputError(option + ": '" + entry + "' is not a range (expected start:stop:step, e.g. 0.05:0.6:0.05)");
  const double start = parse_number(parts[0], option + " range start");
  const double stop = parse_number(parts[1], option + " range stop");
  const double step = parse_number(parts[2], option + " range step");
  if (!(step > 0.0)) throw InputError(option + ": range '" + entry + "' has step " + number_text(step) + " (expected a step > 0)");
  if (stop < start)
    throw InputError(option + ": range '" + entry + "' ends before it starts (expected start <= stop)");
  const double count = std::floor((stop - start) / step + 1e-9);
  if (count + 1 > kMaxValues)
    throw InputError(option + ": range '" + entry + "' has more than 100000 values (expected a larger step)");
  for (long k = 0; k <= static_cast<long>(count); ++k)
    values.push_back(std::round((start + static_cast<double>(k) * step) * 1e12) / 1e12);
}
}  // namespace

std::vector<double> parse_number_ranges(std::string_view text, const std::string& option) {
  std::vector<double> values;
  for (const auto& entry : split(text, ',')) {
    if (entry.empty())
      throw InputError(option + ": empty entry in '" + std::string(text) +
                       "' (expected numbers or start:stop:step ranges separated by commas)");
    if (entry.find(':') != std::string::npos) expand_range(entry, option, values);
    else values.push_back(parse_number(entry, option));
    if (static_cast<double>(values.size()) > kMaxValues)
      throw InputError(option + ": more than 100000 values (expected a shorter list)");
  }
  return values;
}

}  // namespace cartpk::cli
