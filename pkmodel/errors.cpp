#include "pkmodel/errors.hpp"

#include <sstream>

namespace cartpk {

namespace {
std::string describe(const std::string& function, const std::string& flag_name, const std::string& detail,
                     double time_day, const std::string& model) {
  std::ostringstream out;
  out << "model " << model << ": " << function << " failed with " << flag_name << " at t = " << time_day
      << " day";
  if (!detail.empty()) out << " (" << detail << ")";
  return out.str();
}
}  // namespace

SolverError::SolverError(std::string function, int flag, std::string flag_name, std::string detail,
                         double time_day, std::string model)
    : std::runtime_error(describe(function, flag_name, detail, time_day, model)),
      function_(std::move(function)),
      flag_(flag),
      flag_name_(std::move(flag_name)),
      time_day_(time_day),
      model_(std::move(model)) {}

std::string number_text(double value) {
  std::ostringstream out;
  out.precision(10);
  out << value;
  return out.str();
}

}  // namespace cartpk
