// Standard errors from the expected information (Gauss–Newton from the sensitivities): the matrix against an
// independent reference, the Fisher identity E[∇OFV ∇OFVᵀ] = 2·E[∇²OFV] over many datasets simulated at the
// truth (censoring included, so the Tobit terms are checked too); and the expected against the observed
// information at an optimum.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "fit_fixtures.hpp"
#include "fitting/subject_fit.hpp"

using namespace cartpk;
using namespace cartpk::fitting;

namespace {
// A stein2019 subject's design: qPCR (log-normal, LLOQ 50 copies/µg) and flow (combined error, LLOQ 0.15
// cells/µL) on the same days, every record carrying its LLOQ; values drawn at `truth` and censored below it.
Subject draw(const std::vector<double>& truth, const std::vector<ErrorModel>& errors, std::mt19937_64& rng) {
  static const std::vector<double> days{1, 3, 7, 10, 14, 21, 28, 60, 90, 180};
  const double lloq[2] = {50.0, 0.15};
  ClosedFormSolver solver(find_model("stein2019"));
  const auto r = solver.solve({truth, days, {}, {}});
  std::normal_distribution<double> normal(0.0, 1.0);
  Subject s;
  s.id = "1";
  for (int j = 0; j < 2; ++j)
    for (std::size_t k = 0; k < days.size(); ++k) {
      const double f = r.observables(static_cast<Eigen::Index>(k), j);
      const double y = j == 0 ? f * std::exp(errors[0].a * normal(rng)) : f + errors[1].sd(f) * normal(rng);
      Observation o;
      o.time_day = days[k];
      o.observable = j;
      o.lloq = lloq[j];
      o.censored = y < lloq[j];
      o.value = o.censored ? lloq[j] : y;
      s.observations.push_back(o);
    }
  return s;
}
}  // namespace

TEST_CASE("expected information equals half the mean outer product of the OFV gradient at the truth (Fisher identity)") {
  auto setup = cartpk::testing::stein_setup("closed");
  setup.error_models[0] = ErrorModel{ErrorType::lognormal, 0.35, 0.0, true};
  setup.error_models[1] = ErrorModel{ErrorType::combined, 0.1, 0.25, true};
  auto truth = setup.parameters;
  truth[2] *= 0.5;  // cmax halved: early and late records fall near their LLOQs, so about a quarter are censored
  setup.parameters = truth;
  auto solver = make_solver(*setup.model, "closed");
  std::mt19937_64 rng(2024);

  Subject first = draw(truth, setup.error_models, rng);
  SubjectObjective at_design(setup, first, *solver);
  const auto z = at_design.initial_point();  // the truth on the estimation scale
  REQUIRE(z.size() == 9);                    // 6 kinetic + sigma_qpcr + a_flow + b_flow
  const Eigen::MatrixXd expected = at_design.expected_information(z);

  const int n = 20000;
  const auto dim = static_cast<Eigen::Index>(z.size());
  Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(dim, dim), sum_sq = Eigen::MatrixXd::Zero(dim, dim);
  std::vector<double> g;
  std::size_t censored = 0, records = 0;
  for (int i = 0; i < n; ++i) {
    const Subject s = draw(truth, setup.error_models, rng);
    for (const auto& o : s.observations) censored += o.censored;
    records += s.observations.size();
    SubjectObjective objective(setup, s, *solver);
    objective.ofv(z, &g);
    const Eigen::Map<const Eigen::VectorXd> score(g.data(), dim);
    const Eigen::MatrixXd outer = 0.5 * score * score.transpose();
    sum += outer;
    sum_sq += outer.cwiseProduct(outer);
  }
  const double fraction = static_cast<double>(censored) / static_cast<double>(records);
  MESSAGE("censored fraction of the simulated records: ", fraction);
  REQUIRE(fraction > 0.15);  // the Tobit terms carry weight
  REQUIRE(fraction < 0.6);
  const Eigen::MatrixXd mean = sum / n;
  const Eigen::MatrixXd se = ((sum_sq / n - mean.cwiseProduct(mean)) / n).cwiseSqrt();
  for (Eigen::Index i = 0; i < dim; ++i)
    for (Eigen::Index j = 0; j <= i; ++j) {
      INFO("element (", i, ", ", j, "): expected information ", expected(i, j), ", Monte Carlo ", mean(i, j), " ± ",
           se(i, j));
      // 4.5 Monte-Carlo SEs (45 elements: a false alarm has probability ~3e-4), plus a floor for elements near 0
      CHECK(std::abs(expected(i, j) - mean(i, j)) <= 4.5 * se(i, j) + 1e-3 * std::sqrt(expected(i, i) * expected(j, j)));
    }
  const double relative = (expected - mean).norm() / expected.norm();
  MESSAGE("relative Frobenius difference, expected information vs Monte Carlo: ", relative);
  CHECK(relative < 0.03);
}

TEST_CASE("a log-normal prior adds exactly 2/omega2 to the expected information of its log-scale estimate") {
  auto setup = cartpk::testing::stein_setup("closed");
  std::mt19937_64 rng(5);
  const auto subject = cartpk::testing::simulate_stein_subject(setup.parameters, 0.3, 50.0, rng, "1");
  auto solver = make_solver(*setup.model, "closed");
  SubjectObjective plain(setup, subject, *solver);
  const auto z = plain.initial_point();
  const Eigen::MatrixXd without = plain.expected_information(z);
  setup.priors = {{setup.estimated[0], 3900.0, 2.4}};
  SubjectObjective with_prior(setup, subject, *solver);
  Eigen::MatrixXd difference = with_prior.expected_information(z) - without;
  CHECK(difference(0, 0) == doctest::Approx(2.0 / 2.4).epsilon(1e-12));
  difference(0, 0) = 0.0;
  CHECK(difference.cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("at an optimum on informative data, SEs from the expected and the observed information agree") {
  // They differ by the residual-weighted curvature of the predictions, which averages out on informative data.
  auto setup = cartpk::testing::stein_setup("closed");
  std::mt19937_64 rng(77);
  const auto subject = cartpk::testing::simulate_stein_subject(setup.parameters, 0.15, 1.0, rng, "1",
                                                               cartpk::testing::kDenseSampleDays);
  auto solver = make_solver(*setup.model, "closed");
  FitOptions options;
  options.optimizer.starts = 3;
  options.curve_points = 0;
  options.information = Information::expected;
  const auto expected = fit_subject(setup, subject, *solver, options);
  options.information = Information::observed;
  const auto observed = fit_subject(setup, subject, *solver, options);
  REQUIRE(expected.status == FitStatus::ok);
  REQUIRE(observed.status == FitStatus::ok);
  CHECK(expected.uncertainty.information == Information::expected);
  for (std::size_t k = 0; k < expected.names.size(); ++k) {
    INFO(expected.names[k], ": SE expected ", expected.uncertainty.se[k], ", observed ", observed.uncertainty.se[k]);
    CHECK(std::isfinite(expected.uncertainty.se[k]));
    CHECK(expected.uncertainty.se[k] == doctest::Approx(observed.uncertainty.se[k]).epsilon(0.25));
  }
}

TEST_CASE("Fisher scoring reaches L-BFGS's optimum on a smooth ODE fit in fewer solves, and honours a bound") {
  // cart_cd19_bcma (smooth: no events at estimated times), one subject simulated at the defaults.
  const Model& model = find_model("cart_cd19_bcma");
  auto setup = default_setup(model, "ode");
  for (auto& em : setup.error_models) em = ErrorModel{ErrorType::lognormal, 0.3, 0.0, false};
  auto solver = make_solver(model, "ode", setup.solver_options);
  SimulationRequest request{setup.parameters, {1, 3, 7, 10, 14, 21, 28, 60, 90, 180, 270, 365}, {}, {}};
  request.doses.push_back(DoseRecord{});
  request.doses.back().amount = 7e7;
  request.doses.back().unit = DoseUnit::cells;
  request.doses.back().weight_kg = 70.0;
  const auto truth = solver->solve(request);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 0.3);
  Subject subject;
  subject.id = "1";
  subject.doses.push_back({request.doses.back(), 1});
  for (const char* name : {"qpcr", "flow", "bcell"}) {
    const int j = model.observable_index(name);
    for (Eigen::Index k = 0; k < truth.observables.rows(); ++k) {
      Observation o;
      o.time_day = truth.times_day[static_cast<std::size_t>(k)];
      o.observable = j;
      o.value = truth.observables(k, j) * std::exp(noise(rng));
      subject.observations.push_back(o);
    }
  }
  SubjectObjective objective(setup, subject, *solver);
  Problem problem = objective.problem();
  REQUIRE(!problem.piecewise());
  OptimizerOptions options;
  auto start = objective.initial_point();
  for (std::size_t k = 0; k < start.size(); ++k) start[k] += 0.3 * std::cos(2.0 * static_cast<double>(k));
  const auto scored = minimise(problem, start, options);
  problem.scoring = nullptr;
  const auto quasi_newton = minimise(problem, start, options);
  INFO("scoring: ", scored.status, ", ", scored.evaluations, " evaluations, OFV ", scored.ofv);
  INFO("L-BFGS: ", quasi_newton.status, ", ", quasi_newton.evaluations, " evaluations, OFV ", quasi_newton.ofv);
  CHECK(scored.algorithm == "scoring");
  CHECK(scored.ofv <= quasi_newton.ofv + 1e-5);
  CHECK(scored.evaluations < quasi_newton.evaluations);

  // A box that excludes the optimum in one coordinate: scoring stops on that bound with the gradient pointing
  // out of the box, and the free coordinates stationary.
  problem = objective.problem();
  const std::size_t k0 = 0;
  problem.upper[k0] = scored.optimum[k0] - 0.5;
  start[k0] = std::min(start[k0], problem.upper[k0]);
  const auto bounded = minimise(problem, start, options);
  REQUIRE(bounded.ok);
  CHECK(bounded.optimum[k0] == problem.upper[k0]);
  std::vector<double> g;
  objective.ofv(bounded.optimum, &g);
  CHECK(g[k0] < 0.0);  // the OFV would fall beyond the bound
  for (std::size_t k = 1; k < g.size(); ++k) CHECK(std::abs(g[k]) < 0.05);
}
