#pragma once
// Strict parsing of command-line values: every failure is an InputError naming the option, the text found
// and what was expected.
#include <string>
#include <string_view>
#include <vector>

#include "pkmodel/model.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/scenario.hpp"  // apply_preset

namespace CLI {
class App;
}

namespace cartpk::cli {

// --rtol and --atol-scale, for every command that solves ODEs; check_solver_options once they are parsed.
// The help states options.rtol as the default (the caller sets it first).
void add_solver_options(CLI::App& command, SolverOptions& options);
void check_solver_options(const SolverOptions& options);  // InputError unless both tolerances are > 0

double parse_number(std::string_view text, const std::string& option);
std::vector<double> parse_number_list(std::string_view text, const std::string& option);
std::vector<std::string> split(std::string_view text, char separator);

// Applies "name=value" assignments to a model's parameter vector, checking the name and the value's domain.
void apply_parameter_assignments(const Model& model, const std::vector<std::string>& assignments,
                                 std::vector<double>& parameters, const std::string& option);

// "day:fraction,..." (fractions of the model's dose parameter) to dose records; "none" to no doses.
std::vector<DoseRecord> parse_dose_schedule(std::string_view text, double weight_kg, const std::string& option);

// Parameter names (or "all") to indices, in the order given.
std::vector<int> parse_parameter_names(const Model& model, std::string_view text, const std::string& option);

// An evenly spaced grid 0, step, 2·step, …, end (end included).
std::vector<double> time_grid(double end_day, double step_day);

std::string join_command_line(int argc, const char* const* argv);

}  // namespace cartpk::cli
