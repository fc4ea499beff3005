// Dose records the engine applies for every model: zero-order infusions (NONMEM RATE) and the compartment a dose
// enters (NONMEM CMT). References: a bolus split into many small boluses over the infusion time (the limit an
// infusion is), the bolus itself for a vanishing duration, and central differences for the sensitivities.
#include <doctest/doctest.h>

#include <cmath>

#include "pkmodel/errors.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;
using cartpk::testing::close_relative;

namespace {
const Model& m2() { return find_model("cart_cd19_bcma"); }
DoseRecord infusion(double day, double fraction, double duration) {
  DoseRecord d{day, fraction, 70.0, DoseUnit::fraction_of_dose_parameter};
  d.duration_day = duration;
  return d;
}
std::vector<double> grid(double end, double step) {
  std::vector<double> t;
  for (double x = 0.0; x <= end + 1e-9; x += step) t.push_back(x);
  return t;
}
}  // namespace

TEST_CASE("an infusion over 2 days equals the limit of many small boluses spread over the same 2 days") {
  SolverOptions tight;
  tight.rtol = 1e-10;
  tight.atol_scale = 1e-14;
  OdeSolver solver(m2(), tight);
  const auto p = m2().default_parameters();
  const auto times = grid(120.0, 1.0);
  const auto infused = solver.solve({p, times, {}, {infusion(0.0, 1.0, 2.0)}});
  // Midpoint rule with n boluses: error O(1/n²); two resolutions show it converging to the infusion.
  auto boluses = [&](int n) {
    std::vector<DoseRecord> doses;
    for (int k = 0; k < n; ++k) doses.push_back({2.0 * (k + 0.5) / n, 1.0 / n, 70.0, DoseUnit::fraction_of_dose_parameter});
    return solver.solve({p, times, {}, doses});
  };
  const auto coarse = boluses(50), fine = boluses(400);
  const int flow = m2().observable_index("flow");
  double worst_coarse = 0.0, worst_fine = 0.0;
  for (Eigen::Index k = 3; k < infused.observables.rows(); ++k) {  // after the infusion
    const double ref = infused.observables(k, flow);
    worst_coarse = std::max(worst_coarse, std::abs(coarse.observables(k, flow) - ref) / ref);
    worst_fine = std::max(worst_fine, std::abs(fine.observables(k, flow) - ref) / ref);
  }
  CHECK(worst_fine < 1e-4);
  CHECK(worst_fine < worst_coarse / 20.0);  // second order: 8x finer, ~64x closer
}

TEST_CASE("an infusion of vanishing duration is the bolus; during an infusion E rises by the rate") {
  OdeSolver solver(m2());
  const auto p = m2().default_parameters();
  const std::vector<double> times{0.0, 1e-4, 1.0, 10.0, 100.0};
  const auto bolus = solver.solve({p, times, {}, {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}});
  const auto quick = solver.solve({p, times, {}, {infusion(0.0, 1.0, 1e-7)}});
  for (Eigen::Index k = 2; k < bolus.observables.rows(); ++k)
    for (Eigen::Index j = 0; j < bolus.observables.cols(); ++j)
      CHECK(close_relative(quick.observables(k, j), bolus.observables(k, j), 1e-5, 1e-12));
  // Over the first 1e-4 day of a 1-day infusion, E grows by ≈ rate·t (the dynamics are slow on that scale).
  const auto slow = solver.solve({p, times, {}, {infusion(0.0, 1.0, 1.0)}});
  const double rate = p[2] * p[0] / p[1];  // fblood·dose_per_kg/vblood per day
  CHECK(slow.states(1, 0) == doctest::Approx(rate * 1e-4).epsilon(1e-3));
  CHECK(slow.states(0, 0) == 0.0);
}

TEST_CASE("infusion sensitivities equal central differences") {
  SolverOptions tight;
  tight.rtol = 1e-10;
  tight.atol_scale = 1e-14;
  OdeSolver solver(m2(), tight);
  const auto p = m2().default_parameters();
  const std::vector<double> times{0.5, 1.5, 3.0, 8.0, 20.0, 60.0};
  const std::vector<DoseRecord> doses{infusion(0.0, 0.4, 1.0), infusion(2.0, 0.6, 0.5)};
  SimulationRequest request{p, times, {}, doses};
  for (const char* name : {"dose_per_kg", "fblood", "vblood", "rho", "kmax19"})
    request.sensitivity_parameters.push_back(m2().parameter_index(name));
  const auto sens = solver.solve(request);
  const int flow = m2().observable_index("flow");
  for (std::size_t s = 0; s < request.sensitivity_parameters.size(); ++s) {
    const auto i = static_cast<std::size_t>(request.sensitivity_parameters[s]);
    const auto f = [&](const std::vector<double>& q) {
      const auto r = solver.solve({q, times, {}, doses});
      const auto c = r.observables.col(flow);
      return std::vector<double>(c.begin(), c.end());
    };
    const auto fd = cartpk::testing::central_difference(f, p, i, 1e-4);
    for (std::size_t k = 0; k < times.size(); ++k) {
      INFO("d flow/d ", m2().parameters()[i].name, " at t = ", times[k]);
      CHECK(close_relative(sens.observable_sensitivities[static_cast<std::size_t>(flow)](static_cast<Eigen::Index>(k),
                                                                                         static_cast<Eigen::Index>(s)),
                           fd[k], 1e-5, 1e-12));
    }
  }
}

TEST_CASE("a dose record's compartment (CMT) names the state it enters") {
  OdeSolver solver(m2());
  const auto p = m2().default_parameters();
  DoseRecord into_memory{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter};
  into_memory.compartment = m2().states().size() > 1 ? 1 : 0;  // M
  const auto r = solver.solve({p, {0.0}, {}, {into_memory}});
  const double amount = p[2] * p[0] / p[1];
  CHECK(r.states(0, 0) == 0.0);                              // E untouched
  CHECK(r.states(0, 1) == doctest::Approx(amount).epsilon(1e-14));  // M received the dose
  DoseRecord nowhere = into_memory;
  nowhere.compartment = 11;
  CHECK_THROWS_WITH_AS(solver.solve({p, {0.0}, {}, {nowhere}}), doctest::Contains("CMT 12, expected a state number from 1 to 11"),
                       InputError);
}
