#include "reference_checks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cmath>

namespace cartpk::testing {

std::size_t parameter_at(const Model& model, std::string_view name) {
  const int i = model.parameter_index(name);
  REQUIRE_MESSAGE(i >= 0, "parameter ", std::string(name));
  return static_cast<std::size_t>(i);
}

int observable_at(const Model& model, std::string_view name) {
  const int j = model.observable_index(name);
  REQUIRE_MESSAGE(j >= 0, "observable ", std::string(name));
  return j;
}

std::vector<PublishedValue> published_values(const std::string& model_name) {
  const std::string path = std::string(CARTPK_SOURCE_DIR) + "/tests/published_values/" + model_name + ".csv";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  std::vector<PublishedValue> values;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    if (header) {
      CHECK(line == "parameter,value,source");
      header = false;
      continue;
    }
    std::istringstream fields(line);
    PublishedValue v;
    std::string value_text;
    std::getline(fields, v.name, ',');
    std::getline(fields, value_text, ',');
    std::getline(fields, v.source);
    INFO(path, ": ", line);
    REQUIRE(!v.source.empty());
    v.value = std::stod(value_text);
    v.row = line;
    values.push_back(v);
  }
  return values;
}

std::vector<double> even_grid(double end, double step) {
  std::vector<double> t;
  for (double x = 0.0; x <= end + 1e-9; x += step) t.push_back(x);
  return t;
}

std::vector<double> observable_column(const Model& model, const SimulationResult& result, std::string_view name) {
  const auto c = result.observables.col(observable_at(model, name));
  return {c.begin(), c.end()};
}

bool close_relative(double a, double b, double tol, double floor) {
  if (std::abs(a) <= floor && std::abs(b) <= floor) return true;
  return std::abs(a - b) <= tol * std::max(std::abs(a), std::abs(b));
}

std::vector<double> central_difference(const std::function<std::vector<double>(const std::vector<double>&)>& f,
                                       std::vector<double> p, std::size_t i, double h) {
  const double step = h * std::max(std::abs(p[i]), 1e-3);
  const double p0 = p[i];
  p[i] = p0 + step;
  const auto up = f(p);
  p[i] = p0 - step;
  const auto down = f(p);
  std::vector<double> d(up.size());
  for (std::size_t k = 0; k < up.size(); ++k) d[k] = (up[k] - down[k]) / (2.0 * step);
  return d;
}

std::vector<double> closed_form_observable(const Model& model, const std::vector<double>& p,
                                           const std::vector<double>& times, std::size_t j) {
  SimulationRequest request{p, times, {}, {}};
  const auto result = solve_closed_form(model, request);
  const auto col = result.observables.col(static_cast<Eigen::Index>(j));
  return {col.begin(), col.end()};
}

std::vector<double> random_parameters(const Model& model, const std::vector<Range>& ranges, std::mt19937_64& rng) {
  auto p = model.default_parameters();
  for (const auto& r : ranges) {
    std::uniform_real_distribution<double> u(std::log(r.lo), std::log(r.hi));
    p[static_cast<std::size_t>(model.parameter_index(r.name))] = std::exp(u(rng));
  }
  return p;
}

std::vector<double> grid_with_points_around(std::vector<double> special_times, std::size_t n_grid, double eps) {
  std::vector<double> times;
  for (std::size_t k = 0; k < n_grid; ++k) times.push_back(730.0 * static_cast<double>(k) / static_cast<double>(n_grid - 1));
  for (double t : special_times) {
    times.push_back(t - eps);
    times.push_back(t + eps);
  }
  std::sort(times.begin(), times.end());
  times.erase(std::remove_if(times.begin(), times.end(), [](double t) { return t < 0.0; }), times.end());
  return times;
}

}  // namespace cartpk::testing
