// Summary metrics against hand-computed values on simple curves.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk::metrics;

TEST_CASE("peak, value_at and the trapezoidal AUC of a sampled line and tent") {
  const std::vector<double> t{0, 1, 2, 3, 4};
  const std::vector<double> tent{0, 2, 4, 2, 0};
  const auto pk = peak(t, tent);
  CHECK(pk.value == 4.0);
  CHECK(pk.time_day == 2.0);
  CHECK(auc(t, tent, 0, 4) == doctest::Approx(8.0));
  CHECK(auc(t, tent, 1, 2.5) == doctest::Approx(0.5 * (2 + 4) + 0.5 * (4 + 3) * 0.5));
  CHECK(value_at(t, tent, 2.5) == doctest::Approx(3.0));
}

TEST_CASE("peak on the grid is std::max_element's: the first of the largest, NaN skipped (unless first), -0 and +0 tied") {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> level(0, 6);  // few distinct values: many ties
  for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 7u, 8u, 9u, 17u, 100u}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<double> t(n), v(n);
      for (std::size_t k = 0; k < n; ++k) {
        t[k] = static_cast<double>(k);
        const int x = level(rng);
        v[k] = x == 6 ? std::nan("") : x == 5 ? -0.0 : x == 4 ? 0.0 : static_cast<double>(x) - 3.0;
      }
      const auto expected = static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
      const auto pk = peak(t, v);
      CHECK(pk.time_day == t[expected]);
      CHECK((pk.value == v[expected] || (std::isnan(pk.value) && std::isnan(v[expected]))));
      CHECK(std::signbit(pk.value) == std::signbit(v[expected]));
    }
  }
}

TEST_CASE("threshold crossing times interpolate linearly and respect the start time") {
  const std::vector<double> t{0, 10, 20, 30, 40};
  const std::vector<double> b{150, 30, 0.5, 0.2, 20};
  CHECK(first_time_below(t, b, 1.0).value() == doctest::Approx(10 + 10 * (29.0 / 29.5)));
  CHECK(first_time_at_or_above(t, b, 10.0, 25.0).value() == doctest::Approx(30 + 10 * (9.8 / 19.8)));
  CHECK_FALSE(first_time_below(t, b, 0.1).has_value());
}

TEST_CASE("Cmax and Tmax at a model event are exact on a coarse grid (stein2019: the peak is cmax at tmax)") {
  using cartpk::Model;
  using cartpk::find_model;
  using cartpk::make_solver;
  const Model& model = find_model("stein2019");
  auto p = model.default_parameters();
  p[static_cast<std::size_t>(model.parameter_index("tmax"))] = 12.345;
  std::vector<double> weekly;
  for (double t = 0.0; t <= 91.0; t += 7.0) weekly.push_back(t);
  for (const char* method : {"closed", "ode"}) {
    auto solver = make_solver(model, method);
    const auto result = solver->solve({p, weekly, {}, {}});
    const auto columns = cart_metrics(model, p, result);
    auto value = [&](const char* name) {
      for (const auto& m : columns)
        if (m.name == name) return m.value;
      FAIL("no metric ", name);
      return 0.0;
    };
    INFO("solution ", method);
    CHECK(std::abs(value("qpcr_tmax") - 12.345) <= 1e-6);
    CHECK(value("qpcr_cmax") == doctest::Approx(p[static_cast<std::size_t>(model.parameter_index("cmax"))]).epsilon(1e-8));
    CHECK(std::abs(value("flow_tmax") - 12.345) <= 1e-6);
  }
}

TEST_CASE("smooth peaks and crossings of an ODE model are located between outputs (Hermite on the solver's dy/dt)") {
  using cartpk::find_model;
  const auto& model = find_model("cart_cd19_bcma");
  const auto p = model.default_parameters();
  const cartpk::DoseRecord dose{0.0, 1.0, 70.0, cartpk::DoseUnit::fraction_of_dose_parameter};
  auto grid = [](double step) {
    std::vector<double> t;
    for (double x = 0.0; x <= 300.0 + 1e-9; x += step) t.push_back(x);
    return t;
  };
  cartpk::OdeSolver solver(model);
  const auto fine = solver.solve({p, grid(0.005), {}, {dose}});
  const auto daily = solver.solve({p, grid(1.0), {}, {dose}});
  auto metric = [&](const cartpk::SimulationResult& r, const char* name) {
    for (const auto& m : cart_metrics(model, p, r))
      if (m.name == name) return m.value;
    FAIL("no metric ", name);
    return 0.0;
  };
  // On a daily grid the refined values match a 0.005-day grid; reading them off the daily grid would miss the
  // peak time by up to half a day.
  CHECK(metric(daily, "flow_cmax") == doctest::Approx(metric(fine, "flow_cmax")).epsilon(1e-5));
  CHECK(std::abs(metric(daily, "flow_tmax") - metric(fine, "flow_tmax")) < 0.01);
  CHECK(std::abs(metric(daily, "bcell_aplasia_start") - metric(fine, "bcell_aplasia_start")) < 0.005);
  CHECK(std::abs(metric(daily, "bcell_aplasia_duration") - metric(fine, "bcell_aplasia_duration")) < 0.01);
  CHECK(std::abs(metric(daily, "qpcr_persistence") - metric(fine, "qpcr_persistence")) < 0.01);
  // dy/dt the solver reports equals the difference quotient of the fine solution.
  const int flow = model.observable_index("flow");
  const auto k = static_cast<Eigen::Index>(20);  // day 20 on the daily grid; day 20 is index 4000 on the fine one
  const double slope = (fine.observables(4001, flow) - fine.observables(3999, flow)) / 0.01;
  CHECK(daily.observable_rates(k, flow) == doctest::Approx(slope).epsilon(1e-4));
}
