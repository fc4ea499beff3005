// The explicit integrator (dopri5, pkmodel/fast_integrator.hpp) against independent references: CVODES at rtol 1e-12
// for every registered model (defaults, 25 random parameter sets across the bounds, every parameter at each bound),
// stein2019's closed form, sensitivities against central differences of tight CVODES solves, a constructed stiff
// case that must be detected and handed over to CVODES (and counted), and thread-count independence.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "pkmodel/errors.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {

// Stated accuracy of dopri5 at cartpk's default tolerances (rtol 1e-8, atol 1e-12 × scale): relative to a tight
// reference, over values above 1e-3 of each observable's peak while every state is well above its absolute
// tolerance (rows_above_absolute_tolerance), within 1e-5 or within 5 times the error of CVODES at the same
// tolerances, whichever is larger: ill-conditioned sets amplify both solvers' local errors (docs/solver.md).
constexpr double kDefaultAccuracy = 1e-5;
constexpr double kRelativeToCvodes = 5.0;

std::vector<double> weekly_two_years() {
  std::vector<double> times;
  for (double t = 0.0; t <= 730.0; t += 7.0) times.push_back(t);
  return times;
}

std::vector<DoseRecord> one_dose(const Model& model) {
  if (!model.accepts_doses()) return {};
  return {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}};
}

SolverOptions with(Integrator integrator, double rtol, double atol_scale = 1e-12) {
  SolverOptions o;
  o.integrator = integrator;
  o.rtol = rtol;
  o.atol_scale = atol_scale;
  return o;
}

// Largest relative difference over values above 1e-3 of each observable's peak in the reference (in the first
// `rows` outputs; all by default).
double observable_error(const Eigen::MatrixXd& values, const Eigen::MatrixXd& reference, Eigen::Index rows = -1) {
  double worst = 0.0;
  if (rows < 0) rows = reference.rows();
  for (Eigen::Index j = 0; j < reference.cols(); ++j) {
    const double peak = reference.col(j).cwiseAbs().maxCoeff();
    for (Eigen::Index k = 0; k < rows; ++k) {
      const double r = reference(k, j);
      if (std::abs(r) > 1e-3 * peak) worst = std::max(worst, std::abs(values(k, j) - r) / std::abs(r));
    }
  }
  return worst;
}

// The outputs before the first at which a state that had been above 1000 times its absolute tolerance at the
// default settings (1e-12 × its typical scale) falls below it: from there on that state is resolved only to the
// absolute tolerance, by either solver, and the observables built on it inherit that (a tumour cleared to
// 1e-4 cells, say). Relative accuracy is claimed before that point.
Eigen::Index rows_above_absolute_tolerance(const Model& model, const Eigen::MatrixXd& states) {
  for (Eigen::Index k = 1; k < states.rows(); ++k)
    for (Eigen::Index i = 0; i < states.cols(); ++i) {
      const double floor = 1e3 * 1e-12 * model.states()[static_cast<std::size_t>(i)].typical_scale;
      const bool was_above = (states.col(i).head(k).array().abs() > floor).any();
      if (was_above && std::abs(states(k, i)) < floor) return k;
    }
  return states.rows();
}

// Random parameter sets across the bounds: log-uniform where the range spans more than a decade of positive values,
// uniform otherwise; sets the model rejects (check_parameters) are drawn again.
std::vector<std::vector<double>> random_sets(const Model& model, int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::vector<double>> sets;
  while (static_cast<int>(sets.size()) < n) {
    auto p = model.default_parameters();
    for (std::size_t i = 0; i < p.size(); ++i) {
      const auto& spec = model.parameters()[i];
      const double lo = spec.lower, hi = spec.upper;
      p[i] = lo > 0.0 && hi / lo > 10.0 ? lo * std::pow(hi / lo, u(rng)) : lo + (hi - lo) * u(rng);
      if (!in_domain(spec.domain, p[i])) p[i] = spec.default_value;
    }
    model.canonicalize(p);
    if (model.check_parameters(p).empty()) sets.push_back(std::move(p));
  }
  return sets;
}

// Every parameter at its lower and at its upper bound, one at a time (the sets of tests/test_extremes.cpp).
std::vector<std::vector<double>> bound_sets(const Model& model) {
  std::vector<std::vector<double>> sets;
  for (std::size_t i = 0; i < model.n_parameters(); ++i)
    for (bool upper : {false, true}) {
      auto p = model.default_parameters();
      const auto& spec = model.parameters()[i];
      p[i] = upper ? spec.upper : spec.lower;
      if (in_domain(spec.domain, p[i]) && model.check_parameters(p).empty()) sets.push_back(std::move(p));
    }
  return sets;
}

}  // namespace

TEST_CASE("integrator names parse and print; an unknown name is an InputError") {
  for (auto i : {Integrator::cvodes, Integrator::dopri5, Integrator::automatic})
    CHECK(parse_integrator(integrator_name(i)) == i);
  CHECK_THROWS_AS(parse_integrator("rk4"), InputError);
}

TEST_CASE("dopri5 agrees with CVODES at rtol 1e-12 for every model: defaults, 25 random sets, every bound") {
  const auto times = weekly_two_years();
  unsigned seed = 12;
  for (const Model* model : all_models()) {
    auto sets = random_sets(*model, 25, seed++);
    sets.insert(sets.begin(), model->default_parameters());
    for (auto& p : bound_sets(*model)) sets.push_back(std::move(p));
    OdeSolver reference(*model, with(Integrator::cvodes, 1e-12, 1e-14));
    OdeSolver fast(*model, with(Integrator::dopri5, 1e-8));
    OdeSolver cvodes(*model, with(Integrator::cvodes, 1e-8));  // what the default solver achieves on the same set
    int compared = 0, reference_failed = 0, handed_over = 0, within_1e5 = 0;
    double worst = 0.0;
    for (std::size_t k = 0; k < sets.size(); ++k) {
      const SimulationRequest request{sets[k], times, {}, one_dose(*model)};
      SimulationResult ref;
      try {
        reference.solve(request, ref);
      } catch (const SolverError&) {
        ++reference_failed;  // no reference to compare with (test_extremes.cpp covers clean failures)
        continue;
      }
      INFO(model->name(), " set ", k);
      SimulationResult r;
      try {
        fast.solve(request, r);
      } catch (const SolverError& e) {  // allowed only where CVODES fails at the same tolerances
        INFO("dopri5 failed: ", e.what());
        CHECK_THROWS_AS(cvodes.solve(request), SolverError);
        continue;
      }
      CHECK(r.stats.explicit_steps + r.stats.handovers > 0);  // dopri5 ran (and maybe handed over)
      handed_over += r.stats.handovers > 0;
      const Eigen::Index rows = rows_above_absolute_tolerance(*model, ref.states);
      const double err = observable_error(r.observables, ref.observables, rows);
      if (err > kDefaultAccuracy) {
        double cvodes_err = std::numeric_limits<double>::infinity();  // CVODES failing at rtol 1e-8: no bound
        try {
          cvodes_err = observable_error(cvodes.solve(request).observables, ref.observables, rows);
        } catch (const SolverError&) {
        }
        INFO("dopri5 error ", err, ", CVODES at rtol 1e-8: ", cvodes_err);
        CHECK(err <= kRelativeToCvodes * cvodes_err);
      } else {
        ++within_1e5;
      }
      worst = std::max(worst, err);
      ++compared;
    }
    MESSAGE(model->name(), ": ", compared, " sets compared (", within_1e5, " within 1e-5), worst relative error ",
            worst, "; ", handed_over, " handed over to CVODES; ", reference_failed, " without a reference");
    CHECK(compared >= 20);
  }
}

TEST_CASE("dopri5 at rtol 1e-10 follows stein2019's and lag_expansion's closed forms within 1e-7") {
  for (const char* name : {"stein2019", "lag_expansion"}) {
    const Model& model = find_model(name);
    auto p = model.default_parameters();
    if (model.parameter_index("tlag") >= 0) p[static_cast<std::size_t>(model.parameter_index("tlag"))] = 3.0;
    std::vector<double> times;
    for (double t = 0.0; t <= 365.0; t += 0.5) times.push_back(t);
    const SimulationRequest request{p, times, {}, {}};
    OdeSolver fast(model, with(Integrator::dopri5, 1e-10));
    const auto r = fast.solve(request);
    const auto exact = solve_closed_form(model, request);
    INFO(name);
    CHECK(r.stats.handovers == 0);
    CHECK(observable_error(r.observables, exact.observables) <= 1e-7);
  }
}

// Sensitivity error of one observable to one parameter, relative to the larger of its peak and a floor that makes a
// sensitivity negligible (its effect over a 1e-6 relative change of the parameter below 1e-12 of the observable's
// peak): identically zero sensitivities are compared absolutely, not to their own rounding noise.
double sensitivity_error(const Eigen::VectorXd& value, const Eigen::VectorXd& reference, double y_peak, double p) {
  const double floor = 1e-6 * y_peak / std::max(std::abs(p), 1e-12);
  return (value - reference).cwiseAbs().maxCoeff() / std::max(reference.cwiseAbs().maxCoeff(), floor);
}

TEST_CASE("dopri5 sensitivities equal CVODES' at rtol 1e-12 for every model and every default estimate") {
  for (const Model* model : all_models()) {
    const auto p = model->default_parameters();
    std::vector<int> which;
    for (const auto name : model->default_estimated()) which.push_back(model->parameter_index(name));
    std::vector<double> times;
    for (double t = 0.0; t <= 365.0; t += 1.0) times.push_back(t);
    const SimulationRequest request{p, times, which, one_dose(*model)};
    const auto r = OdeSolver(*model, with(Integrator::dopri5, 1e-10, 1e-14)).solve(request);
    const auto ref = OdeSolver(*model, with(Integrator::cvodes, 1e-12, 1e-16)).solve(request);
    for (std::size_t j = 0; j < model->n_observables(); ++j) {
      const double y_peak = ref.observables.col(static_cast<Eigen::Index>(j)).cwiseAbs().maxCoeff();
      for (std::size_t s = 0; s < which.size(); ++s) {
        INFO(model->name(), ": d ", model->observables()[j].name, " / d ", model->parameters()[static_cast<std::size_t>(which[s])].name);
        CHECK(sensitivity_error(r.observable_sensitivities[j].col(static_cast<Eigen::Index>(s)),
                                ref.observable_sensitivities[j].col(static_cast<Eigen::Index>(s)), y_peak,
                                p[static_cast<std::size_t>(which[s])]) <= 1e-6);
      }
    }
  }
}

TEST_CASE("dopri5 sensitivities equal central differences of tight CVODES solves") {
  for (const char* model_name : {"cart_cd19_bcma", "stein2019", "lag_expansion"}) {
    const Model* model = &find_model(model_name);
    auto p = model->default_parameters();
    if (model->parameter_index("tlag") >= 0) p[static_cast<std::size_t>(model->parameter_index("tlag"))] = 3.0;
    std::vector<int> which;
    for (const auto name : model->default_estimated()) which.push_back(model->parameter_index(name));
    std::vector<double> times;
    for (double t = 0.0; t <= 120.0; t += 2.0) times.push_back(t);
    OdeSolver fast(*model, with(Integrator::dopri5, 1e-10, 1e-14));
    const auto r = fast.solve({p, times, which, one_dose(*model)});
    OdeSolver reference(*model, with(Integrator::cvodes, 1e-12, 1e-16));
    for (std::size_t s = 0; s < which.size(); ++s) {
      const auto ip = static_cast<std::size_t>(which[s]);
      const double h = 1e-4 * std::abs(p[ip]);
      auto lo = p, hi = p;
      lo[ip] -= h;
      hi[ip] += h;
      const auto rl = reference.solve({lo, times, {}, one_dose(*model)});
      const auto rh = reference.solve({hi, times, {}, one_dose(*model)});
      for (std::size_t j = 0; j < model->n_observables(); ++j) {
        const Eigen::VectorXd fd = (rh.observables.col(static_cast<Eigen::Index>(j)) -
                                    rl.observables.col(static_cast<Eigen::Index>(j))) / (2.0 * h);
        const Eigen::VectorXd exact = r.observable_sensitivities[j].col(static_cast<Eigen::Index>(s));
        const double y_peak = rh.observables.col(static_cast<Eigen::Index>(j)).cwiseAbs().maxCoeff();
        INFO(model->name(), ": d ", model->observables()[j].name, " / d ", model->parameters()[ip].name);
        CHECK(sensitivity_error(exact, fd, y_peak, p[ip]) <= 1e-5);
      }
    }
  }
}

TEST_CASE("a stiff cart_cd19_bcma (kill rate 1e4/day) is detected, handed over to CVODES, counted, and correct") {
  const Model& model = find_model("cart_cd19_bcma");
  auto p = model.default_parameters();
  p[static_cast<std::size_t>(model.parameter_index("kmax19"))] = 1e4;  // B cells and precursors killed in minutes
  p[static_cast<std::size_t>(model.parameter_index("kmaxbc"))] = 1e4;
  const std::vector<int> which{model.parameter_index("rho"), model.parameter_index("kmax19")};
  const SimulationRequest request{p, weekly_two_years(), which, one_dose(model)};
  OdeSolver fast(model, with(Integrator::dopri5, 1e-8));
  const auto r = fast.solve(request);
  CHECK(r.stats.handovers == 1);
  CHECK(r.stats.explicit_steps > 0);
  CHECK(r.stats.steps > r.stats.explicit_steps);  // CVODES took the rest
  CHECK(std::string(integrator_used(r.stats)) == "dopri5+cvodes");
  OdeSolver reference(model, with(Integrator::cvodes, 1e-12, 1e-14));
  const auto ref = reference.solve(request);
  CHECK(observable_error(r.observables, ref.observables) <= kDefaultAccuracy);
  // Without the hand-over dopri5 would need thousands of stability-limited steps: it took few.
  CHECK(r.stats.explicit_steps < 1000);
}

TEST_CASE("auto runs dopri5 on small models and records it; cvodes records no explicit steps") {
  const Model& model = find_model("cart_cd19_bcma");
  const SimulationRequest request{model.default_parameters(), weekly_two_years(), {}, one_dose(model)};
  OdeSolver automatic(model, with(Integrator::automatic, 1e-8));
  const auto a = automatic.solve(request);
  CHECK(a.stats.explicit_steps == a.stats.steps);
  CHECK(std::string(integrator_used(a.stats)) == "dopri5");
  OdeSolver cvodes(model, with(Integrator::cvodes, 1e-8));
  const auto c = cvodes.solve(request);
  CHECK(c.stats.explicit_steps == 0);
  CHECK(std::string(integrator_used(c.stats)) == "cvodes");
}

TEST_CASE("dopri5 through split doses and a zero-order infusion agrees with CVODES at rtol 1e-12") {
  const Model& model = find_model("cart_cd19_bcma");
  std::vector<double> times;
  for (double t = 0.0; t <= 60.0; t += 0.25) times.push_back(t);
  const std::vector<int> which{model.parameter_index("dose_per_kg"), model.parameter_index("rho")};
  for (const auto& doses : {std::vector<DoseRecord>{{0.0, 0.1, 70.0, DoseUnit::fraction_of_dose_parameter},
                                                    {1.0, 0.3, 70.0, DoseUnit::fraction_of_dose_parameter},
                                                    {2.0, 0.6, 70.0, DoseUnit::fraction_of_dose_parameter}},
                            std::vector<DoseRecord>{{0.5, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter, -1, 0.75}}}) {
    const SimulationRequest request{model.default_parameters(), times, which, doses};
    const auto r = OdeSolver(model, with(Integrator::dopri5, 1e-8)).solve(request);
    const auto ref = OdeSolver(model, with(Integrator::cvodes, 1e-12, 1e-14)).solve(request);
    INFO(doses.size(), " dose records");
    CHECK(r.stats.handovers == 0);
    CHECK(observable_error(r.observables, ref.observables) <= kDefaultAccuracy);
    for (std::size_t j = 0; j < model.n_observables(); ++j) {
      const double peak = ref.observable_sensitivities[j].cwiseAbs().maxCoeff();
      if (peak > 0.0)
        CHECK((r.observable_sensitivities[j] - ref.observable_sensitivities[j]).cwiseAbs().maxCoeff() / peak <= 1e-5);
    }
  }
}

TEST_CASE("dopri5 results do not depend on the thread count or on what the workspace solved before") {
  const Model& model = find_model("cart_cd19_bcma");
  const auto sets = random_sets(model, 8, 2024);
  const auto times = weekly_two_years();
  const std::vector<int> which{model.parameter_index("rho"), model.parameter_index("dele")};
  auto solve_all = [&](std::size_t first, std::size_t step, std::vector<SimulationResult>& out) {
    OdeSolver solver(model, with(Integrator::dopri5, 1e-8));  // one workspace per thread, reused
    for (std::size_t k = first; k < sets.size(); k += step) out[k] = solver.solve({sets[k], times, which, one_dose(model)});
  };
  std::vector<SimulationResult> one(sets.size()), two(sets.size());
  solve_all(0, 1, one);
  std::thread a([&] { solve_all(0, 2, two); });
  std::thread b([&] { solve_all(1, 2, two); });
  a.join();
  b.join();
  for (std::size_t k = 0; k < sets.size(); ++k) {
    INFO("set ", k);
    CHECK(one[k].observables == two[k].observables);  // bit for bit
    for (std::size_t j = 0; j < model.n_observables(); ++j)
      CHECK(one[k].observable_sensitivities[j] == two[k].observable_sensitivities[j]);
    CHECK(one[k].stats.steps == two[k].stats.steps);
  }
}

TEST_CASE("dopri5 with a repeated sensitivity parameter: equal columns; more columns than parameters run on CVODES") {
  const Model& model = find_model("stein2019");
  std::vector<double> times;
  for (double t = 0.0; t <= 60.0; t += 1.0) times.push_back(t);
  OdeSolver fast(model, with(Integrator::dopri5, 1e-8));
  const auto twice = fast.solve({model.default_parameters(), times, {3, 3}, {}});
  CHECK(twice.stats.explicit_steps > 0);
  CHECK(twice.observable_sensitivities[0].col(0) == twice.observable_sensitivities[0].col(1));
  std::vector<int> many(model.n_parameters() + 1, 3);
  const auto r = fast.solve({model.default_parameters(), times, many, {}});
  CHECK(r.stats.explicit_steps == 0);
  CHECK(r.stats.handovers == 0);
  CHECK(r.observable_sensitivities[0].col(0) == r.observable_sensitivities[0].col(static_cast<Eigen::Index>(many.size() - 1)));
}
