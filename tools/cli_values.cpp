#include "tools/cli_values.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <sstream>

#include <CLI/CLI.hpp>

#include "pkmodel/errors.hpp"

namespace cartpk::cli {

namespace {
std::string in_quotes(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return std::string(text.substr(first, last - first + 1));
}

std::string known_names(const Model& model) {
  std::string names;
  for (const auto& spec : model.parameters()) names += (names.empty() ? "" : ", ") + std::string(spec.name);
  return names;
}
}  // namespace

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(trim(text.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

void add_solver_options(CLI::App& command, SolverOptions& options) {
  auto rtol = number_text(options.rtol);  // 1e-08 -> 1e-8
  if (const auto e = rtol.find("e-0"); e != std::string::npos) rtol.erase(e + 2, 1);
  command.add_option("--rtol", options.rtol, "ODE relative tolerance (default " + rtol + ")");
  command.add_option("--atol-scale", options.atol_scale,
                     "ODE absolute tolerance per unit of a state's typical scale (default 1e-12)");
  command.add_option("--max-steps", options.max_steps,
                     "Bound on ODE steps between two output times (default 200000); a solve that needs more fails");
  command
      .add_option_function<std::string>(
          "--integrator",
          [&options](const std::string& name) {
            try {
              options.integrator = parse_integrator(name);
            } catch (const InputError& e) {
              throw InputError(std::string("--") + e.what());
            }
          },
          "ODE integrator: auto (default: dopri5 for models of at most 16 states, else cvodes), cvodes (BDF), dopri5 "
          "(explicit Dormand-Prince 5(4), handing over to CVODES on stiffness); docs/solver.md")
      ->type_name("NAME");
}

void check_solver_options(const SolverOptions& options) {
  if (!(options.rtol > 0.0) || !(options.atol_scale > 0.0))
    throw InputError("--rtol " + number_text(options.rtol) + " --atol-scale " + number_text(options.atol_scale) +
                     ": expected positive tolerances");
  if (options.max_steps <= 0)
    throw InputError("--max-steps " + std::to_string(options.max_steps) + ": expected a number of steps > 0");
}

double parse_number(std::string_view text, const std::string& option) {
  const std::string t = trim(text);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec == std::errc::invalid_argument || end != t.data() + t.size())
    throw InputError(option + ": " + in_quotes(text) + " is not a number (expected a finite decimal number)");
  if (ec == std::errc::result_out_of_range) {
    const bool overflow = std::abs(std::strtod(t.c_str(), nullptr)) > 1.0;  // else an underflow towards 0
    throw InputError(option + ": " + in_quotes(text) +
                     (overflow ? " is not finite in double precision (expected a finite number below 1e308)"
                               : " underflows double precision (expected 0 or a magnitude above 1e-307)"));
  }
  if (!std::isfinite(value))
    throw InputError(option + ": " + in_quotes(text) + " is not finite (expected a finite decimal number)");
  return value;
}

std::vector<double> parse_number_list(std::string_view text, const std::string& option) {
  std::vector<double> values;
  for (const auto& part : split(text, ',')) {
    if (part.empty()) throw InputError(option + ": empty entry in " + in_quotes(text) + " (expected numbers separated by commas)");
    values.push_back(parse_number(part, option));
  }
  return values;
}

void apply_parameter_assignments(const Model& model, const std::vector<std::string>& assignments,
                                 std::vector<double>& parameters, const std::string& option) {
  for (const auto& assignment : assignments) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos)
      throw InputError(option + " " + in_quotes(assignment) + ": expected name=value");
    const std::string name = trim(std::string_view(assignment).substr(0, eq));
    const int index = model.parameter_index(name);
    if (index < 0)
      throw InputError(option + " " + in_quotes(assignment) + ": model " + std::string(model.name()) +
                       " has no parameter " + in_quotes(name) + " (expected one of: " + known_names(model) + ")");
    const auto& spec = model.parameters()[static_cast<std::size_t>(index)];
    const double value = parse_number(std::string_view(assignment).substr(eq + 1), option + " " + name);
    if (!in_domain(spec.domain, value)) {
      std::ostringstream msg;
      msg << option << " " << in_quotes(assignment) << ": " << name << " must be " << domain_name(spec.domain)
          << " (" << spec.unit << ")";
      throw InputError(msg.str());
    }
    if (value < spec.lower || value > spec.upper)  // legal but outside the plausible range: say so, go on
      std::fprintf(stderr, "cartpk: warning: %s %s = %g is outside its plausible range [%g, %g] %s\n",
                   option.c_str(), name.c_str(), value, spec.lower, spec.upper, std::string(spec.unit).c_str());
    parameters[static_cast<std::size_t>(index)] = value;
  }
}

std::vector<DoseRecord> parse_dose_schedule(std::string_view text, double weight_kg, const std::string& option) {
  if (trim(text) == "none") return {};
  std::vector<DoseRecord> doses;
  for (const auto& entry : split(text, ',')) {
    const auto colon = entry.find(':');
    if (colon == std::string::npos)
      throw InputError(option + " " + in_quotes(entry) + ": expected day:fraction (e.g. 0:0.1,1:0.3,2:0.6)");
    const double day = parse_number(std::string_view(entry).substr(0, colon), option + " day");
    const double fraction = parse_number(std::string_view(entry).substr(colon + 1), option + " fraction");
    if (day < 0.0) throw InputError(option + " " + in_quotes(entry) + ": expected a dose day >= 0");
    if (fraction <= 0.0) throw InputError(option + " " + in_quotes(entry) + ": expected a fraction > 0");
    if (!doses.empty() && day < doses.back().time_day)
      throw InputError(option + " " + in_quotes(entry) + ": expected doses in time order");
    doses.push_back({day, fraction, weight_kg, DoseUnit::fraction_of_dose_parameter});
  }
  return doses;
}

std::vector<int> parse_parameter_names(const Model& model, std::string_view text, const std::string& option) {
  std::vector<int> indices;
  if (trim(text).empty()) throw InputError(option + ": empty (expected 'all' or parameter names separated by commas)");
  if (trim(text) == "all") {
    for (std::size_t i = 0; i < model.n_parameters(); ++i) indices.push_back(static_cast<int>(i));
    return indices;
  }
  for (const auto& name : split(text, ',')) {
    const int index = model.parameter_index(name);
    if (index < 0)
      throw InputError(option + ": model " + std::string(model.name()) + " has no parameter " + in_quotes(name) +
                       " (expected 'all' or names from: " + known_names(model) + ")");
    for (int seen : indices)
      if (seen == index) throw InputError(option + ": parameter " + in_quotes(name) + " is listed twice");
    indices.push_back(index);
  }
  return indices;
}

std::vector<double> time_grid(double end_day, double step_day) {
  if (!(end_day > 0.0)) throw InputError("--end: expected a time > 0 day");
  if (!(step_day > 0.0)) throw InputError("--step: expected a step > 0 day");
  const double count = std::floor(end_day / step_day + 1e-9);
  if (count > 1e7) throw InputError("--end/--step: more than 10 million output times (expected a coarser --step)");
  std::vector<double> times;
  for (long k = 0; k <= static_cast<long>(count); ++k) times.push_back(static_cast<double>(k) * step_day);
  if (end_day - times.back() > 1e-9 * end_day) times.push_back(end_day);
  return times;
}

std::string join_command_line(int argc, const char* const* argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    const bool plain = !arg.empty() && arg.find_first_of(" \t\"'\\$") == std::string::npos;
    line += (i ? " " : "") + (plain ? arg : "'" + arg + "'");
  }
  return line;
}

}  // namespace cartpk::cli

namespace cartpk::cli {
}  // namespace cartpk::cli
