// hardiansyah2019 (published model P1): sensitivities against central differences, the IL-6 peak metric, dosing
// in cells and in fractions of the dose parameter, and the model's table against the published values kept in
// tests/published_values/hardiansyah2019.csv. (An independent SciPy implementation is compared state by state in
// tests/python/test_hardiansyah2019_reference.py; the Jacobian is checked for every model in tests/test_engine.cpp.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;
using cartpk::testing::close_relative;

namespace {

const Model& hard() { return find_model("hardiansyah2019"); }
std::size_t ip(std::string_view name) {
  const int i = hard().parameter_index(name);
  REQUIRE(i >= 0);
  return static_cast<std::size_t>(i);
}
DoseRecord fraction_dose(double day, double fraction) {
  return {day, fraction, 70.0, DoseUnit::fraction_of_dose_parameter};
}
// Patient UPN3's split infusion: 10 / 30 / 60 % of the total on days 0, 1, 2.
std::vector<DoseRecord> upn3_doses() { return {fraction_dose(0, 0.1), fraction_dose(1, 0.3), fraction_dose(2, 0.6)}; }
std::vector<double> grid(double end, double step) {
  std::vector<double> t;
  const auto n = static_cast<std::size_t>(std::llround(end / step));
  for (std::size_t k = 0; k <= n; ++k) t.push_back(static_cast<double>(k) * step);
  return t;
}
SolverOptions tight() {
  SolverOptions o;
  o.rtol = 1e-10;
  o.atol_scale = 1e-14;
  return o;
}

}  // namespace

TEST_CASE("hardiansyah2019 is registered, and so covered by the engine's every-model Jacobian test") {
  const auto models = all_models();
  CHECK(std::any_of(models.begin(), models.end(), [](const Model* m) { return m->name() == "hardiansyah2019"; }));
  CHECK(hard().accepts_doses());
  CHECK(hard().states()[static_cast<std::size_t>(hard().dose_state())].name == "CEpb");
  const auto estimated = hard().default_estimated();
  CHECK(std::vector<std::string_view>(estimated.begin(), estimated.end()) ==
        std::vector<std::string_view>{"pIL6", "pIL10", "pIFNg", "rE", "dE", "aE", "KBC"});
}

TEST_CASE("hardiansyah2019 sensitivities of every observable w.r.t. the estimated parameters and the dose equal "
          "central differences") {
  const auto p = hard().default_parameters();
  const std::vector<double> times{0.5, 1, 2, 3, 5, 8, 12, 16, 19, 21, 24, 28, 35, 42, 50, 60};
  const auto doses = upn3_doses();
  OdeSolver solver(hard(), tight());
  SimulationRequest request{p, times, {}, doses};
  std::vector<std::string_view> names(hard().default_estimated().begin(), hard().default_estimated().end());
  names.push_back("dose");  // enters through the dose jumps only: the engine's sensitivity jump at each dose
  for (const auto name : names) request.sensitivity_parameters.push_back(static_cast<int>(ip(name)));
  const auto sens = solver.solve(request);
  const auto y = solver.solve({p, times, {}, doses});
  std::size_t checked = 0;
  for (std::size_t j = 0; j < hard().n_observables(); ++j) {
    const auto jj = static_cast<Eigen::Index>(j);
    const auto f = [&](const std::vector<double>& q) {
      const auto r = solver.solve({q, times, {}, doses});
      const auto c = r.observables.col(jj);
      return std::vector<double>(c.begin(), c.end());
    };
    for (std::size_t s = 0; s < names.size(); ++s) {
      const std::size_t i = ip(names[s]);
      // Relative step 1e-4: the solver's tolerance-level noise (~1e-10 relative) stays far below 1e-4 of the
      // quotient; truncation error is O(1e-8).
      const auto fd = cartpk::testing::central_difference(f, p, i, 1e-4);
      for (std::size_t k = 0; k < times.size(); ++k) {
        const auto kk = static_cast<Eigen::Index>(k);
        const double value = y.observables(kk, jj);
        const double analytic = sens.observable_sensitivities[j](kk, static_cast<Eigen::Index>(s));
        // Negligible: doubling the parameter would move the value by less than 1e-6 of itself.
        const double negligible = 1e-6 * std::abs(value) / std::abs(p[i]);
        INFO("d", hard().observables()[j].name, "/d", names[s], " at t = ", times[k], ": value ", value, " sens ",
             analytic, " fd ", fd[k]);
        CHECK(close_relative(analytic, fd[k], 1e-4, negligible));
        ++checked;
      }
    }
  }
  CHECK(checked == hard().n_observables() * names.size() * times.size());
}

TEST_CASE("hardiansyah2019 metrics: il6_peak and il6_peak_day are columns and equal the peak on a fine grid") {
  const auto columns = metrics::metric_columns(hard());
  const auto has = [&](const char* name) {
    return std::any_of(columns.begin(), columns.end(), [&](const auto& c) { return c.name == name; });
  };
  for (const char* name : {"il6_peak", "il6_peak_day", "il10_peak", "ifng_peak", "cart_blood_cmax", "cart_blood_tmax",
                           "cart_blood_auc_0_28", "bcell_aplasia_start"})
    CHECK_MESSAGE(has(name), name);

  const auto p = hard().default_parameters();
  OdeSolver solver(hard(), tight());
  const auto result = solver.solve({p, grid(60.0, 0.01), {}, upn3_doses()});
  const auto rows = metrics::cart_metrics(hard(), p, result);
  const auto metric = [&](const char* name) {
    const auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& m) { return m.name == name; });
    REQUIRE(it != rows.end());
    return it->value;
  };
  const int j = hard().observable_index("il6");
  const auto col = result.observables.col(j);
  Eigen::Index at = 0;
  const double grid_peak = col.maxCoeff(&at);
  // The metric refines the sampled peak between outputs (Hermite on the solver's dy/dt): at least the sampled
  // maximum, within one output step of it.
  CHECK(metric("il6_peak") >= grid_peak);
  CHECK(std::abs(metric("il6_peak_day") - result.times_day[static_cast<std::size_t>(at)]) <= 0.01);
  // The true peak, from a 1e-5-day grid around it: the 0.01-day grid misses it by O(f''·dt²) only.
  std::vector<double> fine;
  const double t0 = metric("il6_peak_day") - 0.01;
  for (int k = 0; k <= 2000; ++k) fine.push_back(t0 + 1e-5 * k);
  std::vector<double> times{0.0};
  times.insert(times.end(), fine.begin(), fine.end());
  const auto dense = solver.solve({p, times, {}, upn3_doses()});
  Eigen::Index at_fine = 0;
  const double true_peak = dense.observables.col(j).maxCoeff(&at_fine);
  INFO("il6 peak ", metric("il6_peak"), " at day ", metric("il6_peak_day"), "; fine grid ", true_peak, " at day ",
       times[static_cast<std::size_t>(at_fine)]);
  // Both are numerical solutions (the metric from the 0.01-day solve's Hermite refinement): at most rounding-level
  // above the fine grid's maximum.
  CHECK(true_peak >= metric("il6_peak") * (1.0 - 1e-9));
  CHECK(close_relative(metric("il6_peak"), true_peak, 1e-6));
  CHECK(std::abs(metric("il6_peak_day") - times[static_cast<std::size_t>(at_fine)]) <= 0.005);
  // UPN3 at the defaults: a peak of ~49 pg/mL around day 19 (test_hardiansyah2019_reference.py: SciPy 49.31 at 19.25).
  CHECK(true_peak == doctest::Approx(49.3).epsilon(0.002));
  CHECK(metric("il6_peak_day") == doctest::Approx(19.2).epsilon(0.01));
}

TEST_CASE("hardiansyah2019 dosing: AMT in cells is 1e-9 x cells in CEpb and equals the same dose as a fraction of "
          "`dose`") {
  const auto p = hard().default_parameters();
  const auto times = grid(60.0, 1.0);
  OdeSolver solver(hard(), tight());
  const auto in_cells = solver.solve({p, times, {}, {{0.0, 1.4e7, 70.0, DoseUnit::cells}}});
  const auto as_fraction = solver.solve({p, times, {}, {fraction_dose(0.0, 1.0)}});
  CHECK(in_cells.states(0, hard().dose_state()) == doctest::Approx(0.014).epsilon(1e-14));
  for (Eigen::Index k = 0; k < in_cells.states.rows(); ++k)
    for (Eigen::Index i = 0; i < in_cells.states.cols(); ++i)
      CHECK(close_relative(in_cells.states(k, i), as_fraction.states(k, i), 1e-12, 1e-300));
  // UPN3's split: day 0 gets 10 % of 1.4e7 cells.
  const auto split = solver.solve({p, times, {}, upn3_doses()});
  CHECK(split.states(0, hard().dose_state()) == doctest::Approx(0.0014).epsilon(1e-14));
}

TEST_CASE("hardiansyah2019 without a dose stays at baseline (B grows at rB - dB, cytokines stay at baseline)") {
  const auto p = hard().default_parameters();
  const auto times = grid(60.0, 5.0);
  OdeSolver solver(hard(), tight());
  const auto r = solver.solve({p, times, {}, {}});
  const int B = 0;
  for (std::size_t k = 0; k < times.size(); ++k) {
    const auto kk = static_cast<Eigen::Index>(k);
    CHECK(close_relative(r.states(kk, B), p[ip("b0")] * std::exp((p[ip("rB")] - p[ip("dB")]) * times[k]), 1e-8));
    CHECK(r.observables(kk, hard().observable_index("cart_blood")) == 0.0);
    CHECK(close_relative(r.observables(kk, hard().observable_index("il6")), p[ip("bIL6")], 1e-12));
    CHECK(close_relative(r.observables(kk, hard().observable_index("il10")), p[ip("bIL10")], 1e-12));
    CHECK(close_relative(r.observables(kk, hard().observable_index("ifng")), p[ip("bIFNg")], 1e-12));
  }
}

TEST_CASE("hardiansyah2019's parameter table holds the published values (tests/published_values/hardiansyah2019.csv)") {
  std::vector<std::string> seen;
  for (const auto& v : cartpk::testing::published_values("hardiansyah2019")) {
    INFO(v.row);
    const int i = hard().parameter_index(v.name);
    REQUIRE_MESSAGE(i >= 0, "no parameter ", v.name, " in the model");
    // Both are the same decimal literal, so they parse to the same double.
    CHECK(hard().parameters()[static_cast<std::size_t>(i)].default_value == v.value);
    CHECK(hard().parameters()[static_cast<std::size_t>(i)].iiv_omega2 == 0.0);  // none published
    seen.push_back(v.name);
  }
  // Every parameter of the model has a published value.
  CHECK(seen.size() == hard().n_parameters());
  for (const auto& spec : hard().parameters())
    CHECK_MESSAGE(std::find(seen.begin(), seen.end(), spec.name) != seen.end(), spec.name, " not in the published values");
}
