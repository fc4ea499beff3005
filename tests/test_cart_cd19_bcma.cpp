// cart_cd19_bcma (M2): the spec's reference behaviour, the no-dose steady state, sensitivities against
// central differences, dosing schedules and product presets. (An independent scipy implementation of the
// same equations is compared state by state in tests/python/test_m2_scipy_reference.py.)
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "pkmodel/metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;
using cartpk::testing::close_relative;

namespace {

const Model& m2() { return find_model("cart_cd19_bcma"); }
std::size_t ip(const char* name) {
  const int i = m2().parameter_index(name);
  REQUIRE(i >= 0);
  return static_cast<std::size_t>(i);
}
DoseRecord fraction_dose(double day, double fraction) {
  return {day, fraction, 70.0, DoseUnit::fraction_of_dose_parameter};
}
std::vector<double> grid(double end, double step) {
  std::vector<double> t;
  for (double x = 0.0; x <= end + 1e-9; x += step) t.push_back(x);
  return t;
}
std::vector<double> observable(const SimulationResult& r, const char* name) {
  const auto c = r.observables.col(m2().observable_index(name));
  return {c.begin(), c.end()};
}

// The default parameters with a product preset of the model's table applied.
std::vector<double> with_preset(std::string_view name) {
  auto p = m2().default_parameters();
  for (const auto& preset : m2().presets())
    if (preset.name == name)
      for (const auto& [parameter, value] : preset.assignments)
        if (!parameter.empty()) p[ip(std::string(parameter).c_str())] = value;
  return p;
}

// The default scenario of the spec: 1e6 CAR+ cells/kg at day 0 after Flu/Cy, on a fine grid.
const SimulationResult& reference_run() {
  static const SimulationResult result = [] {
    OdeSolver solver(m2());
    return solver.solve({m2().default_parameters(), grid(730.0, 0.05), {}, {fraction_dose(0.0, 1.0)}});
  }();
  return result;
}

}  // namespace

TEST_CASE("M2 reference: CAR+ flow peak ~11.6 cells/uL at day ~8") {
  const auto pk = metrics::peak(reference_run().times_day, observable(reference_run(), "flow"));
  CHECK(pk.value == doctest::Approx(11.6).epsilon(0.01));
  CHECK(pk.time_day == doctest::Approx(8.0).epsilon(0.05));
}

TEST_CASE("M2 reference: qPCR peak ~3,500 copies/ug") {
  const auto pk = metrics::peak(reference_run().times_day, observable(reference_run(), "qpcr"));
  CHECK(pk.value == doctest::Approx(3500.0).epsilon(0.01));
}

TEST_CASE("M2 reference: B-cell aplasia (< 1 cell/uL) from day ~8 to day ~53") {
  const auto& t = reference_run().times_day;
  const auto b = observable(reference_run(), "bcell");
  const auto start = metrics::first_time_below(t, b, 1.0);
  REQUIRE(start.has_value());
  CHECK(*start == doctest::Approx(8.0).epsilon(0.07));
  const auto end = metrics::first_time_at_or_above(t, b, 1.0, *start);
  REQUIRE(end.has_value());
  CHECK(*end == doctest::Approx(53.0).epsilon(0.02));
}

TEST_CASE("M2 reference: B cells back above 10 cells/uL at day ~134 and at 50 % of b0 at day ~211") {
  const auto& t = reference_run().times_day;
  const auto b = observable(reference_run(), "bcell");
  CHECK(metrics::first_time_at_or_above(t, b, 10.0, 20.0).value() == doctest::Approx(134.0).epsilon(0.01));
  CHECK(metrics::first_time_at_or_above(t, b, 75.0, 20.0).value() == doctest::Approx(211.0).epsilon(0.01));
}

TEST_CASE("M2 reference: autoantibody ~5.4 % of baseline at day 90") {
  CHECK(metrics::value_at(reference_run().times_day, observable(reference_run(), "autoab"), 90.0) ==
        doctest::Approx(0.054).epsilon(0.01));
}

TEST_CASE("M2 reference: hemoglobin ~112.8 g/L at day 90 (+33) and ~124.6 g/L at two years") {
  const auto& t = reference_run().times_day;
  const auto hb = observable(reference_run(), "hb");
  CHECK(metrics::value_at(t, hb, 90.0) == doctest::Approx(112.8).epsilon(0.001));
  CHECK(metrics::value_at(t, hb, 90.0) - hb.front() == doctest::Approx(33.0).epsilon(0.01));
  CHECK(metrics::value_at(t, hb, 730.0) == doctest::Approx(124.6).epsilon(0.001));
}

TEST_CASE("M2 reference: CAR+ cells below 0.01 cells/uL from about day 170") {
  const auto& t = reference_run().times_day;
  CHECK(metrics::first_time_below(t, observable(reference_run(), "flow"), 0.01, 20.0).value() ==
        doctest::Approx(170.0).epsilon(0.03));
}

TEST_CASE("M2 without a dose and without lymphodepletion stays at its baseline for two years") {
  auto p = m2().default_parameters();
  p[ip("fld_b")] = 1.0;
  const auto times = grid(730.0, 10.0);
  OdeSolver solver(m2());
  const auto r = solver.solve({p, times, {}, {}});
  const double baseline[] = {0, 0, 0, 1, 1, p[ip("b0")], 1, 1, 1, 1, p[ip("hb0")]};
  const int Q = 3;
  for (Eigen::Index k = 0; k < r.states.rows(); ++k)
    for (Eigen::Index i = 0; i < 11; ++i) {
      if (i == Q) continue;  // see below
      INFO("state ", m2().states()[static_cast<std::size_t>(i)].name, " at t = ", times[static_cast<std::size_t>(k)]);
      CHECK(std::abs(r.states(k, i) - baseline[i]) <= 1e-9 * std::max(1.0, baseline[i]));
    }
  // Q, the capacity of a CAR-T population that is absent here, still follows the spec's Q' = -g·Q/(ndiv ln 2)
  // with g = (rho·S + rhoh·L)·Q; at baseline S = 3/(ks + 3), so 1/Q = 1 + ∫(rho·S + rhoh·L) dt/(ndiv ln 2).
  const double S = 3.0 / (p[ip("ks")] + 3.0);
  for (Eigen::Index k = 0; k < r.states.rows(); ++k) {
    const double t = times[static_cast<std::size_t>(k)];
    const double integral = p[ip("rho")] * S * t + p[ip("rhoh")] * p[ip("ld")] * (1 - std::exp(-p[ip("kld")] * t)) / p[ip("kld")];
    CHECK(close_relative(r.states(k, Q), 1.0 / (1.0 + integral / (p[ip("ndiv")] * std::numbers::ln2)), 1e-6));
  }
}

TEST_CASE("M2 sensitivities of flow, qpcr, bcell and hb w.r.t. every parameter equal central differences") {
  const auto p = m2().default_parameters();
  const std::vector<double> times{2, 5, 8, 12, 20, 35, 60, 100, 150, 250, 400, 730};
  const std::vector<DoseRecord> doses{fraction_dose(0.0, 1.0)};
  SolverOptions tight;
  tight.rtol = 1e-10;
  tight.atol_scale = 1e-14;
  OdeSolver solver(m2(), tight);
  SimulationRequest request{p, times, {}, doses};
  for (std::size_t i = 0; i < m2().n_parameters(); ++i) request.sensitivity_parameters.push_back(static_cast<int>(i));
  const auto sens = solver.solve(request);
  const auto y = solver.solve({p, times, {}, doses});
  for (const char* name : {"flow", "qpcr", "bcell", "hb"}) {
    const int j = m2().observable_index(name);
    const auto f = [&](const std::vector<double>& q) {
      const auto r = solver.solve({q, times, {}, doses});
      const auto c = r.observables.col(j);
      return std::vector<double>(c.begin(), c.end());
    };
    const double peak = y.observables.col(j).cwiseAbs().maxCoeff();
    for (std::size_t i = 0; i < m2().n_parameters(); ++i) {
      // Relative step 1e-4: larger steps than usual keep the solver's own tolerance-level noise (~1e-10
      // relative) well below 1e-4 of the difference quotient; truncation error is O(1e-8).
      const auto fd = cartpk::testing::central_difference(f, p, i, 1e-4);
      for (std::size_t k = 0; k < times.size(); ++k) {
        const double value = y.observables(static_cast<Eigen::Index>(k), j);
        if (std::abs(value) < 1e-6 * peak) continue;  // CAR-T gone (< 1e-6 of its peak): the absolute tolerance's realm
        // Negligible: doubling the parameter would move the value by less than 1e-6 of itself.
        const double negligible = 1e-6 * std::abs(value) / std::abs(p[i]);
        INFO("d", std::string(name), "/d", m2().parameters()[i].name, " at t = ", times[k], ": value ", value, " sens ", sens.observable_sensitivities[static_cast<std::size_t>(j)](static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(i)), " fd ", fd[k]);
        CHECK(close_relative(sens.observable_sensitivities[static_cast<std::size_t>(j)](static_cast<Eigen::Index>(k),
                                                                                       static_cast<Eigen::Index>(i)),
                             fd[k], 1e-4, negligible));
      }
    }
  }
}

TEST_CASE("M2 dosing: two half doses at once equal one dose; a dose in cells equals the same dose as a fraction") {
  const auto p = m2().default_parameters();
  const auto times = grid(365.0, 5.0);
  OdeSolver solver(m2());
  const auto one = solver.solve({p, times, {}, {fraction_dose(0.0, 1.0)}});
  const auto halves = solver.solve({p, times, {}, {fraction_dose(0.0, 0.5), fraction_dose(0.0, 0.5)}});
  const double weight = 63.0;
  const auto cells = solver.solve({p, times, {}, {{0.0, p[ip("dose_per_kg")] * weight, weight, DoseUnit::cells}}});
  for (Eigen::Index k = 0; k < one.observables.rows(); ++k)
    for (Eigen::Index j = 0; j < one.observables.cols(); ++j) {
      CHECK(close_relative(halves.observables(k, j), one.observables(k, j), 1e-10, 1e-14));
      CHECK(close_relative(cells.observables(k, j), one.observables(k, j), 1e-10, 1e-14));
    }
}

TEST_CASE("M2 dosing: 10/30/60 % on days 0/1/2 gives the single infusion's late-phase kinetics") {
  const auto p = m2().default_parameters();
  const auto times = grid(730.0, 0.25);
  OdeSolver solver(m2());
  const auto single = solver.solve({p, times, {}, {fraction_dose(0.0, 1.0)}});
  const auto split = solver.solve({p, times, {}, {fraction_dose(0.0, 0.1), fraction_dose(1.0, 0.3), fraction_dose(2.0, 0.6)}});
  // In this model the proliferative capacity Q is one pool that starts to run down at the first dose, so the
  // later fractions expand less: the split schedule peaks ~2.4x lower. What must not change is the late phase:
  // the persistence slope (set by the memory/effector exchange, not by the dose history), the autoantibody
  // and hemoglobin response, and the final B-cell level.
  const auto at = [&](const SimulationResult& r, const char* name, double day) {
    return metrics::value_at(times, observable(r, name), day);
  };
  const auto late_slope = [&](const SimulationResult& r) {
    return std::log(at(r, "flow", 400.0) / at(r, "flow", 200.0)) / 200.0;
  };
  CHECK(late_slope(split) == doctest::Approx(late_slope(single)).epsilon(0.02));
  CHECK(at(split, "hb", 90.0) == doctest::Approx(at(single, "hb", 90.0)).epsilon(0.01));
  CHECK(at(split, "hb", 730.0) == doctest::Approx(at(single, "hb", 730.0)).epsilon(0.01));
  CHECK(at(split, "autoab", 90.0) == doctest::Approx(at(single, "autoab", 90.0)).epsilon(0.05));
  CHECK(at(split, "bcell", 500.0) == doctest::Approx(at(single, "bcell", 500.0)).epsilon(0.01));
  // ...and the expansion is later and lower, never higher (less capacity per cell for the later fractions).
  const auto pk1 = metrics::peak(times, observable(single, "flow"));
  const auto pk2 = metrics::peak(times, observable(split, "flow"));
  CHECK(pk2.value < pk1.value);
  CHECK(pk2.time_day >= pk1.time_day);
}

TEST_CASE("M2 presets set the binders and kill rates the spec (v2) gives each product") {
  const auto dual = with_preset("cd19-bcma");
  CHECK(dual == m2().default_parameters());
  const auto cd19 = with_preset("cd19");
  CHECK((cd19[ip("arm19")] == 1.0 && cd19[ip("armbc")] == 0.0 && cd19[ip("kmaxbc")] == 0.0));
  CHECK(cd19[ip("kmax19")] == m2().default_parameters()[ip("kmax19")]);
  const auto bcma = with_preset("bcma");
  CHECK((bcma[ip("arm19")] == 0.0 && bcma[ip("armbc")] == 1.0 && bcma[ip("kmax19")] == 0.0));
  CHECK(bcma[ip("kmaxbc")] == m2().default_parameters()[ip("kmaxbc")]);
}

TEST_CASE("M2 v2 presets: CD19-only peaks ~7.6 cells/uL at day ~7; BCMA-only ~28.6 at day ~22.75 (spec)") {
  const auto times = grid(60.0, 0.05);
  OdeSolver solver(m2());
  const auto cd19 = solver.solve({with_preset("cd19"), times, {}, {fraction_dose(0.0, 1.0)}});
  const auto bcma = solver.solve({with_preset("bcma"), times, {}, {fraction_dose(0.0, 1.0)}});
  const auto pk19 = metrics::peak(times, observable(cd19, "flow"));
  const auto pkbc = metrics::peak(times, observable(bcma, "flow"));
  CHECK(pk19.value == doctest::Approx(7.6).epsilon(0.01));
  CHECK(pk19.time_day == doctest::Approx(7.0).epsilon(0.05));
  CHECK(pkbc.value == doctest::Approx(28.6).epsilon(0.01));
  CHECK(pkbc.time_day == doctest::Approx(22.75).epsilon(0.02));
}

TEST_CASE("M2 presets: CD19-only spares long-lived plasma cells; BCMA-only spares blood B cells") {
  const auto times = grid(365.0, 1.0);
  OdeSolver solver(m2());
  const auto p_cd19 = with_preset("cd19");
  const auto cd19 = solver.solve({p_cd19, times, {}, {fraction_dose(0.0, 1.0)}});
  const auto dual = solver.solve({m2().default_parameters(), times, {}, {fraction_dose(0.0, 1.0)}});
  const Eigen::Index Pl = 8, A = 9, B = 5;
  // Without BCMA killing, Pl can fall no faster than its own turnover: Pl(t) >= exp(-kpl·t).
  for (Eigen::Index k = 0; k < cd19.states.rows(); ++k)
    CHECK(cd19.states(k, Pl) >= std::exp(-p_cd19[ip("kpl")] * times[static_cast<std::size_t>(k)]) * (1 - 1e-9));
  CHECK(cd19.states(90, A) > 0.3);        // autoantibody from the surviving long-lived plasma cells
  CHECK(dual.states(90, A) < 0.1);        // the dual product removes both sources
  CHECK(dual.states(90, Pl) < 0.5 * cd19.states(90, Pl));

  const auto p_bcma = with_preset("bcma");
  const auto bcma = solver.solve({p_bcma, times, {}, {fraction_dose(0.0, 1.0)}});
  const auto no_car = solver.solve({p_bcma, times, {}, {}});
  for (Eigen::Index k = 0; k < bcma.states.rows(); ++k)  // B cells follow their recovery from Flu/Cy alone
    CHECK(close_relative(bcma.states(k, B), no_car.states(k, B), 1e-7));
}
