// The CVODES engine, model-independent: Jacobians, workspace reuse, typed errors, event timing.
#include <doctest/doctest.h>

#include <cmath>

#include "pkmodel/errors.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;
using cartpk::testing::close_relative;

TEST_CASE("every model's automatic Jacobian equals central differences of its right-hand side, in every regime") {
  for (const Model* model : all_models()) {
    const auto p = model->default_parameters();
    const std::size_t nx = model->n_states();
    std::vector<double> x(nx), f(nx), column(nx), up(nx), down(nx), unit(nx, 0.0);
    model->initial_state(p.data(), nullptr, x.data(), nullptr);
    for (std::size_t i = 0; i < nx; ++i) x[i] = x[i] * 1.3 + 0.7 * static_cast<double>(i + 1);  // a generic point
    const unsigned n_regimes = 1u << static_cast<unsigned>(model->n_events());
    for (unsigned fired = 0; fired < n_regimes; ++fired) {
      const Regime regime{fired};
      for (std::size_t j = 0; j < nx; ++j) {
        unit[j] = 1.0;
        model->rhs(regime, 5.0, x.data(), unit.data(), p.data(), nullptr, f.data(), column.data());
        unit[j] = 0.0;
        const double h = 1e-6 * std::max(std::abs(x[j]), 1.0);
        auto xs = x;
        xs[j] = x[j] + h;
        model->rhs(regime, 5.0, xs.data(), nullptr, p.data(), nullptr, up.data(), nullptr);
        xs[j] = x[j] - h;
        model->rhs(regime, 5.0, xs.data(), nullptr, p.data(), nullptr, down.data(), nullptr);
        for (std::size_t i = 0; i < nx; ++i) {
          INFO(model->name(), " regime ", fired, ": df", i, "/dx", j);
          INFO("analytic ", column[i], " vs difference ", (up[i] - down[i]) / (2 * h));
          // Round-off in the differences (~1e-16·|f|/h) bounds what they can confirm: it is added to the relative
          // tolerance (an entry just above it, e.g. hardiansyah2019's dCMpb'/dB ~3e-5 beside |f| ~ 200, cannot be
          // confirmed to 1e-5 relative by a double-precision difference).
          const double round_off = 1e-13 * (std::abs(up[i]) + 1.0) / h;
          const double difference = (up[i] - down[i]) / (2 * h);
          CHECK(std::abs(column[i] - difference) <= 1e-5 * std::max(std::abs(column[i]), std::abs(difference)) + round_off);
        }
      }
    }
  }
}

TEST_CASE("one OdeSolver workspace reused across requests gives the same results as fresh ones") {
  const Model& model = find_model("stein2019");
  const std::vector<double> times{1, 5, 9, 10, 30, 100, 700};
  auto p2 = model.default_parameters();
  p2[1] = 12.0;  // tmax
  const SimulationRequest a{model.default_parameters(), times, {0, 1, 2}, {}};
  const SimulationRequest b{p2, times, {}, {}};
  const SimulationRequest c{p2, times, {1, 5}, {}};
  OdeSolver reused(model);
  for (const auto* request : {&a, &b, &c, &a}) {
    const auto again = reused.solve(*request);
    OdeSolver fresh(model);
    const auto reference = fresh.solve(*request);
    CHECK((again.observables - reference.observables).cwiseAbs().maxCoeff() == 0.0);
    for (std::size_t j = 0; j < again.observable_sensitivities.size(); ++j)
      CHECK((again.observable_sensitivities[j] - reference.observable_sensitivities[j]).cwiseAbs().maxCoeff() == 0.0);
    CHECK(again.stats.steps == reference.stats.steps);
  }
}

TEST_CASE("an integration that exceeds its work bound is a SolverError naming CVODE's flag, the time and the model") {
  const Model& model = find_model("stein2019");
  SolverOptions options;
  options.max_steps = 3;
  OdeSolver solver(model, options);
  try {
    solver.solve({model.default_parameters(), {0.0, 100.0}, {}, {}});
    FAIL("expected a SolverError");
  } catch (const SolverError& e) {
    CHECK(e.flag_name() == "CV_TOO_MUCH_WORK");
    CHECK(e.model() == "stein2019");
    CHECK(e.time_day() > 0.0);
    CHECK(e.time_day() < 100.0);
    CHECK(std::string(e.what()).find("stein2019") != std::string::npos);
    CHECK(std::string(e.what()).find("CV_TOO_MUCH_WORK") != std::string::npos);
  }
  // The workspace is usable again after a failure.
  OdeSolver reused(model);
  CHECK_NOTHROW(reused.solve({model.default_parameters(), {0.0, 100.0}, {}, {}}));
}

TEST_CASE("outputs at an event time report the state after the event (right-continuous)") {
  const Model& model = find_model("stein2019");
  OdeSolver solver(model);
  const auto r = solver.solve({model.default_parameters(), {0.0, 9.3}, {}, {}});
  CHECK(r.states(1, 0) == doctest::Approx((1 - 0.0079) * 24000.0).epsilon(1e-12));  // E reset at tmax
  CHECK(r.states(1, 1) == doctest::Approx(0.0079 * 24000.0).epsilon(1e-12));        // M reset at tmax
  CHECK(r.states(0, 0) == doctest::Approx(24000.0 / 3900.0).epsilon(1e-14));
}

TEST_CASE("requests are validated up front, naming what is wrong") {
  const Model& model = find_model("stein2019");
  OdeSolver solver(model);
  auto p = model.default_parameters();
  CHECK_THROWS_WITH_AS(solver.solve({p, {}, {}, {}}), doctest::Contains("time grid is empty"), InputError);
  CHECK_THROWS_WITH_AS(solver.solve({p, {3.0, 1.0}, {}, {}}), doctest::Contains("non-decreasing"), InputError);
  CHECK_THROWS_WITH_AS(solver.solve({p, {std::nan("")}, {}, {}}), doctest::Contains("finite time"), InputError);
  CHECK_NOTHROW(solver.solve({p, {-1.0}, {}, {}}));  // stein2019 is defined before the infusion (its baseline)
  const Model& m2 = find_model("cart_cd19_bcma");  // starts at the infusion
  CHECK_THROWS_WITH_AS(OdeSolver(m2).solve({m2.default_parameters(), {-1.0}, {}, {}}), doctest::Contains(">= 0"), InputError);
  p[3] = -0.1;  // alpha
  CHECK_THROWS_WITH_AS(solver.solve({p, {1.0}, {}, {}}), doctest::Contains("alpha"), InputError);
  p[3] = std::nan("");
  CHECK_THROWS_WITH_AS(solver.solve({p, {1.0}, {}, {}}), doctest::Contains("alpha"), InputError);
  CHECK_THROWS_WITH_AS(solver.solve({model.default_parameters(), {1.0}, {}, {DoseRecord{0.0, 1e8, 70.0}}}),
                       doctest::Contains("no dose records"), InputError);
}
