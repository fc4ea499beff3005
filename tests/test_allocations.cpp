// No allocation per solve or per event once a workspace is warm (issue 12): the global operator new is
// replaced by a counting one (in this executable only), and repeated solves of the same shape must not call it.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>

#include "fit_fixtures.hpp"
#include "fitting/individual_model.hpp"
#include "fitting/objective.hpp"
#include "pkmodel/registry.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using namespace cartpk;

namespace {
// Allocations made by `work` after `warm_up` runs of it.
template <class Work>
long allocations_when_warm(Work work, int warm_up = 2, int repeats = 5) {
  for (int i = 0; i < warm_up; ++i) work();
  const long before = g_allocations.load();
  for (int i = 0; i < repeats; ++i) work();
  return g_allocations.load() - before;
}

SimulationRequest cart_request(const Model& model, bool sensitivities) {
  SimulationRequest request{model.default_parameters(), {1, 7, 14, 28, 90, 180, 365, 730}, {}, {}};
  DoseRecord first, second, third;  // a split dose: two boluses and a 12-hour infusion (its start and end)
  first.amount = 2e7;
  second.time_day = 2.0;
  second.amount = 2e7;
  third.time_day = 5.0;
  third.amount = 3e7;
  third.duration_day = 0.5;
  for (auto* d : {&first, &second, &third}) {
    d->unit = DoseUnit::cells;
    d->weight_kg = 70.0;
  }
  request.doses = {first, second, third};
  if (sensitivities)
    for (auto name : model.default_estimated()) request.sensitivity_parameters.push_back(model.parameter_index(name));
  return request;
}
}  // namespace

TEST_CASE("a warm ODE solver allocates nothing per solve or per dose or infusion event (every integrator, with and without sensitivities)") {
  const Model& model = find_model("cart_cd19_bcma");
  for (auto integrator : {Integrator::dopri5, Integrator::cvodes, Integrator::automatic})
    for (bool sensitivities : {false, true}) {
      SolverOptions options;
      options.integrator = integrator;
      auto solver = make_solver(model, "ode", options);
      const auto request = cart_request(model, sensitivities);
      SimulationResult result;
      INFO("integrator ", std::string(integrator_name(integrator)), ", sensitivities ", sensitivities);
      CHECK(allocations_when_warm([&] { solver->solve(request, result); }) == 0);
    }
}

TEST_CASE("a warm solver allocates nothing through a model event (stein2019's tmax, ODE and closed form)") {
  const Model& model = find_model("stein2019");
  for (const char* method : {"ode", "closed"})
    for (bool sensitivities : {false, true}) {
      auto solver = make_solver(model, method);
      SimulationRequest request{model.default_parameters(), {1, 4, 9, 14, 28, 90, 365}, {}, {}};
      if (sensitivities) request.sensitivity_parameters = {0, 1, 2, 3, 4, 5};
      SimulationResult result;
      INFO("method ", std::string(method), ", sensitivities ", sensitivities);
      CHECK(allocations_when_warm([&] { solver->solve(request, result); }) == 0);
    }
}

namespace {
struct SteinSubject {  // one simulated stein2019 subject and a closed-form solver
  fitting::FitSetup setup = cartpk::testing::stein_setup("closed");
  Subject subject;
  std::unique_ptr<Solver> solver = make_solver(*setup.model, "closed");
  SteinSubject() {
    std::mt19937_64 rng(1);
    subject = cartpk::testing::simulate_stein_subject(setup.parameters, 0.3, 50.0, rng, "1");
  }
};
}  // namespace

TEST_CASE("a warm per-subject objective allocates nothing per OFV and gradient") {
  SteinSubject s;
  fitting::SubjectObjective objective(s.setup, s.subject, *s.solver);
  auto z = objective.initial_point();
  std::vector<double> gradient(z.size());
  CHECK(allocations_when_warm([&] { objective.ofv(z, &gradient); }) == 0);
  CHECK(allocations_when_warm([&] { objective.ofv(z, nullptr); }) == 0);
}

TEST_CASE("a warm subject model allocates nothing per prediction (SAEM's proposals, importance samples)") {
  SteinSubject s;
  fitting::IndividualModel model(s.setup, s.subject, *s.solver);
  Eigen::VectorXd phi(static_cast<Eigen::Index>(s.setup.estimated.size()));
  for (std::size_t k = 0; k < s.setup.estimated.size(); ++k)
    phi(static_cast<Eigen::Index>(k)) = std::log(s.setup.parameters[static_cast<std::size_t>(s.setup.estimated[k])]);
  std::vector<double> f;
  CHECK(allocations_when_warm([&] {
          phi(0) += 1e-3;  // a new proposal each time
          model.predictions(phi, f);
        }) == 0);
  CHECK(std::isfinite(f.front()));
}
