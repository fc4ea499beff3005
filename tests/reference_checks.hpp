#pragma once
// Shared helpers of the test suites: relative comparison, central finite differences, random parameter sets.
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "pkmodel/model.hpp"
#include "pkmodel/simulation.hpp"

namespace cartpk::testing {

// |a − b| ≤ tol·max(|a|, |b|), or both below `floor` in magnitude.
bool close_relative(double a, double b, double tol, double floor = 0.0);

// Central finite difference of f with respect to p[i], relative step h·|p[i]|.
std::vector<double> central_difference(const std::function<std::vector<double>(const std::vector<double>&)>& f,
                                       std::vector<double> p, std::size_t i, double h = 1e-6);

// Indices by name (a test failure naming the name when the model lacks it), an even grid 0, step, …, end, and one
// observable's column of a result: what every model's test file needs.
std::size_t parameter_at(const Model& model, std::string_view name);
int observable_at(const Model& model, std::string_view name);
std::vector<double> even_grid(double end, double step);
std::vector<double> observable_column(const Model& model, const SimulationResult& result, std::string_view name);

// tests/published_values/<model>.csv: rows `parameter,value,source` (comments # and blank lines skipped; the header
// checked; every row with a source). The values stay as text too, so a test can compare exactly.
struct PublishedValue {
  std::string name;   // a parameter, `omega2:<parameter>`, or `<preset>/<parameter>`
  double value = 0.0;
  std::string source;
  std::string row;    // the line, for messages
};
std::vector<PublishedValue> published_values(const std::string& model_name);

// Observable `j` of a closed-form solve on `times`, as a plain vector.
std::vector<double> closed_form_observable(const Model& model, const std::vector<double>& p,
                                           const std::vector<double>& times, std::size_t j);

// A parameter set drawn log-uniformly inside [lo, hi] for each named parameter; others keep their defaults.
struct Range {
  std::string name;
  double lo, hi;
};
std::vector<double> random_parameters(const Model& model, const std::vector<Range>& ranges, std::mt19937_64& rng);

// Dense grid on [0, 730] days plus points just before and after each given time.
std::vector<double> grid_with_points_around(std::vector<double> special_times, std::size_t n_grid = 200,
                                            double eps = 1e-6);

}  // namespace cartpk::testing
