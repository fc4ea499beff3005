// Cost of one OFV with its exact gradient, the unit of work of `cartpk fit`: a stein2019 subject with 12 qPCR
// samples (4 BLQ by M3) through the closed form, and a cart_cd19_bcma subject (qPCR, flow, B cells over a
// year) through CVODES with six sensitivities. Prints one JSON object (microseconds per evaluation, best of 5).
// `bench_fit_objective stein`: the closed form only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "fitting/objective.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {

double best_microseconds(fitting::SubjectObjective& objective, const std::vector<double>& z, int calls) {
  std::vector<double> gradient;
  double best = 1e300, sink = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < calls; ++k) sink += objective.ofv(z, &gradient) + gradient[0];
    const std::chrono::duration<double, std::micro> spent = std::chrono::steady_clock::now() - start;
    best = std::min(best, spent.count() / calls);
  }
  if (sink == 0.123456789) std::puts("");  // keeps the loop from being optimised away
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const bool stein_only = argc > 1 && std::string(argv[1]) == "stein";  // for profiling the closed form alone
  // stein2019: 12 samples, the defaults as truth, log-normal noise 0.3, LLOQ 50 copies/µg.
  const Model& stein = find_model("stein2019");
  const std::vector<double> days{1, 4, 7, 9, 11, 14, 21, 28, 56, 90, 180, 365};
  ClosedFormSolver truth_solver(stein);
  const auto truth = truth_solver.solve({stein.default_parameters(), days, {}, {}});
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 0.3);
  Subject s;
  for (std::size_t k = 0; k < days.size(); ++k) {
    const double dv = truth.observables(static_cast<Eigen::Index>(k), 0) * std::exp(noise(rng)) * (k > 8 ? 0.05 : 1.0);
    s.observations.push_back({days[k], 0, std::max(dv, 50.0), dv < 50.0, 50.0, 0});
  }
  auto stein_setup = fitting::default_setup(stein, "closed");
  auto closed = make_solver(stein, "closed", stein_setup.solver_options);
  fitting::SubjectObjective stein_objective(stein_setup, s, *closed);
  const auto stein_us = best_microseconds(stein_objective, stein_objective.initial_point(), 20000);

  if (stein_only) {
    std::printf("{\n  \"stein2019_closed_us_per_ofv_and_gradient\": %.3f\n}\n", stein_us);
    return 0;
  }
  // cart_cd19_bcma: one dose, 14 sampling days over a year, three observables.
  const Model& m2 = find_model("cart_cd19_bcma");
  auto m2_setup = fitting::default_setup(m2, "ode");
  for (auto& e : m2_setup.error_models) e.estimated = false;
  Subject p;
  p.doses.push_back({{0.0, 7e7, 70.0, DoseUnit::cells}, 0});
  for (double d : {1.0, 4.0, 7.0, 9.0, 11.0, 14.0, 21.0, 28.0, 56.0, 90.0, 180.0, 270.0, 365.0})
    for (int obs : {0, 1, 2}) p.observations.push_back({d, obs, 1.0 + d / 100.0, false, std::nan(""), 0});
  auto ode = make_solver(m2, "ode", m2_setup.solver_options);
  fitting::SubjectObjective m2_objective(m2_setup, p, *ode);
  const auto m2_us = best_microseconds(m2_objective, m2_objective.initial_point(), 20);

  std::printf("{\n  \"stein2019_closed_us_per_ofv_and_gradient\": %.3f,\n  \"stein2019_records\": %zu,\n"
              "  \"cart_cd19_bcma_ode_us_per_ofv_and_gradient\": %.1f,\n  \"cart_cd19_bcma_records\": %zu,\n"
              "  \"cart_cd19_bcma_sensitivities\": %zu\n}\n",
              stein_us, s.observations.size(), m2_us, p.observations.size(), m2_setup.estimated.size());
}
