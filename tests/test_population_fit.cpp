// Population fitting: FOCE-I against Wang (2007)'s published NONMEM objective values, the exact marginal likelihood
// of a linear-Gaussian model, SAEM against FOCE-I, and thread-count independence.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "fitting/population_fit.hpp"
#include "pkmodel/model_adapter.hpp"
#include "population_models.hpp"

using namespace cartpk;
using namespace cartpk::fitting;

namespace {
// Wang (2007) Table 1, as in nlmixr2data::Wang2007: 10 subjects, concentrations at t = 0 and 1.
std::vector<Subject> wang2007_subjects() {
  const double y[10][2] = {{10.68, 3.6837},  {10.402, 6.454},   {9.8814, 5.8565}, {9.3408, 5.6209}, {10.082, 6.7583},
                           {9.8938, 6.5049}, {9.8908, 6.9557},  {10.234, 6.4488}, {9.9882, 6.7112}, {9.6736, 6.6402}};
  std::vector<Subject> subjects;
  for (int i = 0; i < 10; ++i) {
    Subject s;
    s.id = std::to_string(i + 1);
    for (int t = 0; t < 2; ++t) s.observations.push_back({static_cast<double>(t), 0, y[i][t], false});
    subjects.push_back(s);
  }
  return subjects;
}

PopulationSetup wang2007_setup(const Model& model, ErrorType error) {
  PopulationSetup setup;
  setup.base = default_setup(model, "closed");
  setup.base.error_models[0] = ErrorModel{error, std::sqrt(0.1), std::sqrt(0.1), true};
  setup.random_effects = {0};
  setup.omega = Eigen::MatrixXd::Constant(1, 1, 0.04);
  return setup;
}
}  // namespace

TEST_CASE("FOCE-I reproduces Wang (2007)'s NONMEM objective values at fixed parameters") {
  const ModelAdapter<testing::OneCompartmentBolus> model;
  const auto subjects = wang2007_subjects();
  const double n_log_2pi = 20.0 * std::log(2.0 * std::numbers::pi);  // NONMEM's OFV leaves out the n·ln 2π
  SUBCASE("proportional error, σ² = 0.1: FOCEI 39.458") {
    const auto setup = wang2007_setup(model, ErrorType::proportional);
    const double m2ll = focei_minus2ll(setup, subjects, initial_estimates(setup), 1);
    CHECK(std::abs(m2ll - n_log_2pi - 39.458) < 1e-3);
  }
  SUBCASE("additive error, σ² = 0.1: FOCEI −2.059") {
    const auto setup = wang2007_setup(model, ErrorType::additive);
    const double m2ll = focei_minus2ll(setup, subjects, initial_estimates(setup), 1);
    CHECK(std::abs(m2ll - n_log_2pi - (-2.059)) < 1e-3);
  }
}
