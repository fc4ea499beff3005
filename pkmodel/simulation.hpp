#pragma once
// What to simulate and what comes back. Shared by the CVODES engine and the closed-form path.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"

namespace cartpk {

struct SimulationRequest {
  std::vector<double> parameters;            // one value per model parameter, in table order
  std::vector<double> times_day;             // output times: non-decreasing, >= 0 (< 0 where the model allows)
  std::vector<int> sensitivity_parameters;   // indices into the parameter table (empty: no sensitivities)
  std::vector<DoseRecord> doses;             // for models that take dose records
};

struct SolverStats {
  long steps = 0;
  long rhs_evaluations = 0;
  long jacobian_evaluations = 0;
  long error_test_failures = 0;
  long nonlinear_failures = 0;
  long sensitivity_rhs_evaluations = 0;
  long reinitialisations = 0;  // one per event (dose or state reset)
  long explicit_steps = 0;     // of `steps`, those taken by the explicit integrator (dopri5; docs/solver.md)
  long handovers = 0;          // solves the explicit integrator handed over to CVODES (stiffness or failure)
  SolverStats& operator+=(const SolverStats& o);
};

// Which integrator did the work: "cvodes", "dopri5", or "dopri5+cvodes" (handed over during the solve).
const char* integrator_used(const SolverStats& stats);

struct SimulationResult {
  std::string method;                 // "ode" (CVODES) or "closed" (exact solution)
  std::vector<double> times_day;
  Eigen::MatrixXd states;             // n_times × n_states
  Eigen::MatrixXd observables;        // n_times × n_observables
  std::vector<int> sensitivity_parameters;
  std::vector<Eigen::MatrixXd> state_sensitivities;       // per state: n_times × n_sensitivity_parameters
  std::vector<Eigen::MatrixXd> observable_sensitivities;  // per observable: n_times × n_sensitivity_parameters
  // The observables at the model's events inside the output range (just after each), e.g. stein2019's peak at
  // tmax: extrema at events are exact whatever the output grid (pkmodel/cart_metrics uses them).
  std::vector<double> event_times_day;
  Eigen::MatrixXd event_observables;  // n_event_times × n_observables
  // dy/dt of each observable at each output time (n_times × n_observables; NaN where a solver does not give it),
  // and the times where the solution jumps or kinks (doses, infusion starts and ends, model events): metrics
  // refine extrema and crossings between outputs on the Hermite interpolant, except across these.
  Eigen::MatrixXd observable_rates;
  std::vector<double> discontinuities_day;
  SolverStats stats;
};

// Checks a request against its model; throws InputError naming the offending entry.
void validate_request(const Model& model, const SimulationRequest& request);

namespace detail {
// Scratch space for turning states into observables, kept by each solver so solves do not allocate.
struct OutputScratch {
  std::vector<double> y, dy;  // observables; their sensitivities (n_observables × n_sensitivities)
};
// Fills output row k from the state x and its sensitivities S (n_states × n_sens, column-major).
void record_output(const Model& model, const SimulationRequest& request, std::size_t k, double t,
                   const double* x, const double* S, SimulationResult& result, OutputScratch& scratch);
// The same with the observables and their sensitivities already in scratch.y and scratch.dy.
void record_values(const Model& model, const SimulationRequest& request, std::size_t k, const double* x,
                   const double* S, SimulationResult& result, const OutputScratch& scratch);
// Appends the observables of state x at time t to the result's event points.
void record_event_point(const Model& model, double t, const double* x, const double* p, SimulationResult& result,
                        OutputScratch& scratch);
// Sizes `result` for the request, reusing its storage.
void prepare_result(const Model& model, const SimulationRequest& request, const char* method,
                    SimulationResult& result, OutputScratch& scratch);
}  // namespace detail

// A reusable solver workspace for one model: create one per model per thread and solve many requests.
// Implemented by the CVODES engine (OdeSolver) and the closed form (ClosedFormSolver).
class Solver {
 public:
  virtual ~Solver() = default;
  virtual void solve(const SimulationRequest& request, SimulationResult& result) = 0;  // reuses result's storage
  SimulationResult solve(const SimulationRequest& request) {
    SimulationResult result;
    solve(request, result);
    return result;
  }
  [[nodiscard]] virtual const Model& model() const = 0;
  // The states and observables at the output times only, for a caller that re-solves one request with new
  // parameters it has checked itself (MCMC proposals, importance samples); the rest of `result` is left as the
  // last full solve() made it. Only the closed form has a shorter path (no checks, no event points).
  virtual void solve_values(const SimulationRequest& request, SimulationResult& result) { solve(request, result); }
};

// Exact solution through the model's closed form, with exact (automatic) derivatives.
class ClosedFormSolver final : public Solver {
 public:
  explicit ClosedFormSolver(const Model& model);
  using Solver::solve;
  void solve(const SimulationRequest& request, SimulationResult& result) override;
  void solve_values(const SimulationRequest& request, SimulationResult& result) override;
  [[nodiscard]] const Model& model() const override { return model_; }

 private:
  const Model& model_;
  detail::OutputScratch scratch_;
  std::vector<double> x_;                                      // the state at an event
  std::vector<double*> state_blocks_, observable_blocks_;  // the result's sensitivity matrices, one per variable
};

SimulationResult solve_closed_form(const Model& model, const SimulationRequest& request);

}  // namespace cartpk
