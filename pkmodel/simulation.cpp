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
  return *this;
}

namespace {
std::string number(double value) {  // shortest faithful form: 1e-07, not 0.000000
  std::ostringstream out;
  out.precision(10);
  out << value;
  return out.str();
}
}  // namespace

void validate_request(const Model& model, const SimulationRequest& request) {
  const std::string who = "model " + std::string(model.name()) + ": ";
  if (request.parameters.size() != model.n_parameters())
    throw InputError(who + "expected " + std::to_string(model.n_parameters()) + " parameter values, got " +
                     std::to_string(request.parameters.size()));
  for (std::size_t i = 0; i < request.parameters.size(); ++i) {
    const auto& spec = model.parameters()[i];
    if (!in_domain(spec.domain, request.parameters[i])) {
      std::ostringstream msg;
      msg << who << "parameter " << spec.name << " = " << request.parameters[i] << " is not allowed (expected "
          << domain_name(spec.domain) << ")";
      throw InputError(msg.str());
    }
  }
  if (auto problem = model.check_parameters(request.parameters); !problem.empty())
    throw InputError(who + problem);
  if (request.times_day.empty()) throw InputError(who + "the time grid is empty (expected at least one time)");
  for (std::size_t k = 0; k < request.times_day.size(); ++k) {
    const double t = request.times_day[k];
    if (!std::isfinite(t) || t < 0.0)
      throw InputError(who + "output time #" + std::to_string(k + 1) + " = " + number(t) +
                       " is not allowed (expected a finite time >= 0 day)");
    if (k > 0 && t < request.times_day[k - 1])
      throw InputError(who + "output times must be non-decreasing (time #" + std::to_string(k + 1) + " = " +
                       number(t) + " comes after " + number(request.times_day[k - 1]) + ")");
  }
  for (int ip : request.sensitivity_parameters)
    if (ip < 0 || ip >= static_cast<int>(model.n_parameters()))
      throw InputError(who + "sensitivity parameter index " + std::to_string(ip) + " is out of range");
  if (!request.doses.empty() && !model.accepts_doses())
    throw InputError(who + "this model takes no dose records (its dose is set by its parameters)");
  for (std::size_t k = 0; k < request.doses.size(); ++k) {
    const auto& dose = request.doses[k];
    if (!std::isfinite(dose.time_day) || dose.time_day < 0.0 || !std::isfinite(dose.amount) || dose.amount <= 0.0)
      throw InputError(who + "dose #" + std::to_string(k + 1) +
                       " needs a finite time >= 0 day and an amount > 0");
  }
}

namespace detail {

SimulationResult allocate_result(const Model& model, const SimulationRequest& request, std::string method) {
  SimulationResult result;
  const auto nt = static_cast<Eigen::Index>(request.times_day.size());
  const auto ns = static_cast<Eigen::Index>(request.sensitivity_parameters.size());
  result.method = std::move(method);
  result.times_day = request.times_day;
  result.states.resize(nt, static_cast<Eigen::Index>(model.n_states()));
  result.observables.resize(nt, static_cast<Eigen::Index>(model.n_observables()));
  result.sensitivity_parameters = request.sensitivity_parameters;
  if (ns > 0) {
    result.state_sensitivities.assign(model.n_states(), Eigen::MatrixXd(nt, ns));
    result.observable_sensitivities.assign(model.n_observables(), Eigen::MatrixXd(nt, ns));
  }
  return result;
}

void record_output(const Model& model, const SimulationRequest& request, std::size_t k, double t,
                   const double* x, const double* S, SimulationResult& result) {
  const std::size_t nx = model.n_states();
  const std::size_t ny = model.n_observables();
  const auto row = static_cast<Eigen::Index>(k);
  std::vector<double> y(ny), dy(ny), dp(model.n_parameters(), 0.0);
  for (std::size_t i = 0; i < nx; ++i) result.states(row, static_cast<Eigen::Index>(i)) = x[i];
  model.observables(t, x, nullptr, request.parameters.data(), nullptr, y.data(), nullptr);
  for (std::size_t j = 0; j < ny; ++j) result.observables(row, static_cast<Eigen::Index>(j)) = y[j];
  for (std::size_t s = 0; s < request.sensitivity_parameters.size(); ++s) {
    const auto col = static_cast<Eigen::Index>(s);
    const double* sx = S + s * nx;
    const auto ip = static_cast<std::size_t>(request.sensitivity_parameters[s]);
    dp[ip] = 1.0;
    model.observables(t, x, sx, request.parameters.data(), dp.data(), y.data(), dy.data());
    dp[ip] = 0.0;
    for (std::size_t i = 0; i < nx; ++i) result.state_sensitivities[i](row, col) = sx[i];
    for (std::size_t j = 0; j < ny; ++j) result.observable_sensitivities[j](row, col) = dy[j];
  }
}

}  // namespace detail

SimulationResult solve_closed_form(const Model& model, const SimulationRequest& request) {
  validate_request(model, request);
  if (!model.has_closed_form())
    throw InputError("model " + std::string(model.name()) + " has no closed-form solution (use the ODE form)");
  if (!request.doses.empty())
    throw InputError("model " + std::string(model.name()) + ": the closed form takes no dose records");
  auto result = detail::allocate_result(model, request, "closed");
  const std::size_t nx = model.n_states();
  const std::size_t ns = request.sensitivity_parameters.size();
  std::vector<double> x(nx), S(nx * ns), dp(model.n_parameters(), 0.0);
  const double* p = request.parameters.data();
  for (std::size_t k = 0; k < request.times_day.size(); ++k) {
    const double t = request.times_day[k];
    model.closed_form(t, p, nullptr, x.data(), nullptr);
    for (std::size_t s = 0; s < ns; ++s) {
      const auto ip = static_cast<std::size_t>(request.sensitivity_parameters[s]);
      dp[ip] = 1.0;
      model.closed_form(t, p, dp.data(), x.data(), S.data() + s * nx);
      dp[ip] = 0.0;
    }
    detail::record_output(model, request, k, t, x.data(), S.data(), result);
  }
  return result;
}

}  // namespace cartpk
