// Extreme but legal inputs solve or fail cleanly: every parameter of every model at its lower and at its upper
// bound (one at a time), and doses from 1e3 to 1e9 cells/kg. Never a hang, an abort, or a NaN in the output.
#include <doctest/doctest.h>

#include <cmath>

#include "pkmodel/errors.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {
// Solves; returns true when it succeeded (then every output is finite), false on a clean SolverError.
bool solves_cleanly(const Model& model, const std::vector<double>& p, const std::vector<DoseRecord>& doses) {
  std::vector<double> times;
  for (double t = 0.0; t <= 730.0; t += 7.0) times.push_back(t);
  std::vector<int> sens;
  for (std::size_t i = 0; i < model.n_parameters(); i += 3) sens.push_back(static_cast<int>(i));
  if (!model.check_parameters(p).empty()) return true;  // rejected up front: not a solve
  OdeSolver solver(model);
  try {
    const auto r = solver.solve({p, times, sens, doses});
    CHECK(r.observables.allFinite());
    CHECK(r.states.allFinite());
    for (const auto& s : r.observable_sensitivities) CHECK(s.allFinite());
    return true;
  } catch (const SolverError& e) {
    MESSAGE(model.name(), ": clean failure: ", e.what());
    return false;
  }
}
}  // namespace

TEST_CASE("every parameter at its bounds: each model solves with finite outputs or fails with a SolverError") {
  for (const Model* model : all_models()) {
    const std::vector<DoseRecord> doses =
        model->accepts_doses() ? std::vector<DoseRecord>{{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}
                               : std::vector<DoseRecord>{};
    for (std::size_t i = 0; i < model->n_parameters(); ++i)
      for (bool upper : {false, true}) {
        auto p = model->default_parameters();
        const auto& spec = model->parameters()[i];
        p[i] = upper ? spec.upper : spec.lower;
        if (!in_domain(spec.domain, p[i])) continue;  // e.g. a fraction's bound at 0 or 1 itself
        INFO(model->name(), ": ", spec.name, " = ", p[i]);
        solves_cleanly(*model, p, doses);
      }
  }
}

TEST_CASE("cart_cd19_bcma doses from 1e3 to 1e9 CAR+ cells/kg solve to finite values") {
  const Model& model = find_model("cart_cd19_bcma");
  for (double dose : {1e3, 1e5, 1e7, 1e9}) {
    auto p = model.default_parameters();
    p[static_cast<std::size_t>(model.parameter_index("dose_per_kg"))] = dose;
    INFO("dose ", dose, " cells/kg");
    CHECK(solves_cleanly(model, p, {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}));
  }
}

TEST_CASE("stein2019 at foldx 1e7 solves to the closed form's finite values") {
  const Model& model = find_model("stein2019");
  auto p = model.default_parameters();
  p[0] = 1e7;
  CHECK(solves_cleanly(model, p, {}));
}
