#include "pkmodel/simulation.hpp"

#include <cmath>
#include <sstream>

#include "pkmodel/errors.hpp"

namespace cartpk {

SolverStats& SolverStats::operator+=(const SolverStats& o) {
  steps += o.steps;
  rhs_evaluations += o.rhs_evaluations;
  jacobian_evaluations += o.jacobian_evaluations;
  error_test_failures += o.error_test_failures;
  nonlinear_failures += o.nonlinear_failures;
  sensitivity_rhs_evaluations += o.sensitivity_rhs_evaluations;
  reinitialisations += o.reinitialisations;
  explicit_steps += o.explicit_steps;
  handovers += o.handovers;
  return *this;
}

const char* integrator_used(const SolverStats& stats) {
  if (stats.explicit_steps == 0 && stats.handovers == 0) return "cvodes";
  return stats.handovers > 0 || stats.steps > stats.explicit_steps ? "dopri5+cvodes" : "dopri5";
}

void validate_request(const Model& model, const SimulationRequest& request) {
  const auto who = [&] { return "model " + std::string(model.name()) + ": "; };  // built only on error
  if (request.parameters.size() != model.n_parameters())
    throw InputError(who() + "expected " + std::to_string(model.n_parameters()) + " parameter values, got " +
                     std::to_string(request.parameters.size()));
  for (std::size_t i = 0; i < request.parameters.size(); ++i) {
    const auto& spec = model.parameters()[i];
    if (!in_domain(spec.domain, request.parameters[i])) {
      std::ostringstream msg;
      msg << who() << "parameter " << spec.name << " = " << request.parameters[i] << " is not allowed (expected "
          << domain_name(spec.domain) << ")";
      throw InputError(msg.str());
    }
  }
  if (auto problem = model.check_parameters(request.parameters); !problem.empty())
    throw InputError(who() + problem);
  if (request.times_day.empty()) throw InputError(who() + "the time grid is empty (expected at least one time)");
  for (std::size_t k = 0; k < request.times_day.size(); ++k) {
    const double t = request.times_day[k];
    if (!std::isfinite(t) || (t < 0.0 && !model.defined_before_infusion()))
      throw InputError(who() + "output time #" + std::to_string(k + 1) + " = " + number_text(t) +
                       " is not allowed (expected a finite time >= 0 day: the model starts at the infusion, day 0)");
    if (k > 0 && t < request.times_day[k - 1])
      throw InputError(who() + "output times must be non-decreasing (time #" + std::to_string(k + 1) + " = " +
                       number_text(t) + " comes after " + number_text(request.times_day[k - 1]) + ")");
  }
  for (int ip : request.sensitivity_parameters)
    if (ip < 0 || ip >= static_cast<int>(model.n_parameters()))
      throw InputError(who() + "sensitivity parameter index " + std::to_string(ip) + " is out of range");
  if (!request.doses.empty() && !model.accepts_doses())
    throw InputError(who() + "this model takes no dose records (its dose is set by its parameters)");
  for (std::size_t k = 0; k < request.doses.size(); ++k) {
    const auto& dose = request.doses[k];
    if (!std::isfinite(dose.time_day) || dose.time_day < 0.0 || !std::isfinite(dose.amount) || dose.amount <= 0.0)
      throw InputError(who() + "dose #" + std::to_string(k + 1) + " at " + number_text(dose.time_day) + " day, amount " +
                       number_text(dose.amount) + ": expected a finite time >= 0 day and an amount > 0");
    if (!std::isfinite(dose.duration_day) || dose.duration_day < 0.0)
      throw InputError(who() + "dose #" + std::to_string(k + 1) + " at " + number_text(dose.time_day) +
                       " day: infusion duration " + number_text(dose.duration_day) + ", expected a finite time >= 0 day");
    if (dose.compartment >= static_cast<int>(model.n_states()))
      throw InputError(who() + "dose #" + std::to_string(k + 1) + " at " + number_text(dose.time_day) + " day: CMT " +
                       std::to_string(dose.compartment + 1) + ", expected a state number from 1 to " +
                       std::to_string(model.n_states()));
    if (dose.unit == DoseUnit::cells && !(std::isfinite(dose.weight_kg) && dose.weight_kg > 0.0))
      throw InputError(who() + "dose #" + std::to_string(k + 1) + " at " + number_text(dose.time_day) +
                       " day is in cells and needs the body weight (WT > 0 kg), got " + number_text(dose.weight_kg));
  }
}

namespace detail {

void prepare_result(const Model& model, const SimulationRequest& request, const char* method,
                    SimulationResult& result, OutputScratch& scratch) {
  const auto nt = static_cast<Eigen::Index>(request.times_day.size());
  const auto ns = static_cast<Eigen::Index>(request.sensitivity_parameters.size());
  result.method = method;
  result.times_day = request.times_day;
  result.states.resize(nt, static_cast<Eigen::Index>(model.n_states()));
  result.observables.resize(nt, static_cast<Eigen::Index>(model.n_observables()));
  result.sensitivity_parameters = request.sensitivity_parameters;
  result.state_sensitivities.resize(ns > 0 ? model.n_states() : 0);
  result.observable_sensitivities.resize(ns > 0 ? model.n_observables() : 0);
  for (auto& m : result.state_sensitivities) m.resize(nt, ns);
  for (auto& m : result.observable_sensitivities) m.resize(nt, ns);
  result.stats = SolverStats{};
  result.event_times_day.clear();
  // One row per model event inside the output range (where the solvers record them): sized up front, so a
  // solve of the same shape reuses the storage.
  Eigen::Index in_range = 0;
  for (int e = 0; e < model.n_events() && !request.times_day.empty(); ++e) {
    double t = 0.0;
    model.event_time(e, request.parameters.data(), nullptr, &t, nullptr);
    in_range += t >= request.times_day.front() && t <= request.times_day.back();
  }
  result.event_observables.resize(in_range, static_cast<Eigen::Index>(model.n_observables()));
  result.observable_rates.setConstant(nt, static_cast<Eigen::Index>(model.n_observables()), std::nan(""));
  result.discontinuities_day.clear();
  scratch.y.resize(model.n_observables());
  scratch.dy.resize(model.n_observables() * request.sensitivity_parameters.size());
}

void record_event_point(const Model& model, double t, const double* x, const double* p, SimulationResult& result,
                        OutputScratch& scratch) {
  model.observables(t, x, nullptr, p, nullptr, scratch.y.data(), nullptr);
  const auto row = static_cast<Eigen::Index>(result.event_times_day.size());
  if (row >= result.event_observables.rows()) result.event_observables.conservativeResize(row + 1, Eigen::NoChange);
  for (std::size_t j = 0; j < model.n_observables(); ++j)
    result.event_observables(row, static_cast<Eigen::Index>(j)) = scratch.y[j];
  result.event_times_day.push_back(t);
}

void record_output(const Model& model, const SimulationRequest& request, std::size_t k, double t,
                   const double* x, const double* S, SimulationResult& result, OutputScratch& scratch) {
  if (request.sensitivity_parameters.empty())
    model.observables(t, x, nullptr, request.parameters.data(), nullptr, scratch.y.data(), nullptr);
  else
    model.observable_sensitivities(t, x, S, request.parameters.data(), request.sensitivity_parameters,
                                   scratch.y.data(), scratch.dy.data());
  record_values(model, request, k, x, S, result, scratch);
}

void record_values(const Model& model, const SimulationRequest& request, std::size_t k, const double* x,
                   const double* S, SimulationResult& result, const OutputScratch& scratch) {
  const std::size_t nx = model.n_states();
  const std::size_t ny = model.n_observables();
  const auto row = static_cast<Eigen::Index>(k);
  const double* y = scratch.y.data();
  const double* dy = scratch.dy.data();
  for (std::size_t i = 0; i < nx; ++i) result.states(row, static_cast<Eigen::Index>(i)) = x[i];
  const std::size_t ns = request.sensitivity_parameters.size();
  for (std::size_t j = 0; j < ny; ++j) result.observables(row, static_cast<Eigen::Index>(j)) = y[j];
  for (std::size_t s = 0; s < ns; ++s) {
    const auto col = static_cast<Eigen::Index>(s);
    for (std::size_t i = 0; i < nx; ++i) result.state_sensitivities[i](row, col) = S[s * nx + i];
    for (std::size_t j = 0; j < ny; ++j) result.observable_sensitivities[j](row, col) = dy[s * ny + j];
  }
}

}  // namespace detail

ClosedFormSolver::ClosedFormSolver(const Model& model) : model_(model) {
  if (!model.has_closed_form())
    throw InputError("model " + std::string(model.name()) + " has no closed-form solution (use the ODE form)");
}

void ClosedFormSolver::solve(const SimulationRequest& request, SimulationResult& result) {
  validate_request(model_, request);
  if (!request.doses.empty())
    throw InputError("model " + std::string(model_.name()) + ": the closed form takes no dose records");
  detail::prepare_result(model_, request, "closed", result, scratch_);
  const double* p = request.parameters.data();
  if (request.sensitivity_parameters.empty()) {  // states and observables of every output time in one call
    model_.closed_form_series(request.times_day, p, result.states.data(), result.observables.data());
  } else {  // with the sensitivities, straight into the result's matrices
    state_blocks_.clear();
    for (auto& m : result.state_sensitivities) state_blocks_.push_back(m.data());
    observable_blocks_.clear();
    for (auto& m : result.observable_sensitivities) observable_blocks_.push_back(m.data());
    model_.closed_form_sensitivities(request.times_day, p, request.sensitivity_parameters, result.states.data(),
                                     result.observables.data(), state_blocks_.data(), observable_blocks_.data());
  }
  x_.resize(model_.n_states());
  for (int e = 0; e < model_.n_events(); ++e) {  // the solution at the model's events (e.g. the peak at tmax)
    double t = 0.0;
    model_.event_time(e, p, nullptr, &t, nullptr);
    if (!(t >= request.times_day.front() && t <= request.times_day.back())) continue;
    model_.closed_form(t, p, nullptr, x_.data(), nullptr);
    detail::record_event_point(model_, t, x_.data(), p, result, scratch_);
    result.discontinuities_day.push_back(t);
  }
}

void ClosedFormSolver::solve_values(const SimulationRequest& request, SimulationResult& result) {
  const auto n_times = static_cast<Eigen::Index>(request.times_day.size());
  if (!request.sensitivity_parameters.empty() || result.method != "closed" || result.states.rows() != n_times ||
      result.observables.rows() != n_times)
    return solve(request, result);  // the first solve of this shape goes through every check
  model_.closed_form_series(request.times_day, request.parameters.data(), result.states.data(), result.observables.data());
}

SimulationResult solve_closed_form(const Model& model, const SimulationRequest& request) {
  return ClosedFormSolver(model).solve(request);
}

}  // namespace cartpk
