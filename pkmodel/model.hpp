#pragma once
// The engine-facing view of a model: tables of parameters, states and observables, and small kernels on raw
// arrays. Every kernel takes an optional tangent direction (dx, dp; nullptr = zero) and returns the matching
// directional derivative (df; nullptr = value only), which is all the solver needs for Jacobians, forward
// sensitivities and sensitivity jumps at events. Models implement this through ModelAdapter (model_adapter.hpp).
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pkmodel/specs.hpp"

namespace cartpk {

class FastIntegrator;  // pkmodel/fast_integrator.hpp

// Which model events have fired so far: the discrete part of the state (e.g. "after tmax" in stein2019).
struct Regime {
  unsigned fired = 0;
  [[nodiscard]] bool after(int event) const { return ((fired >> event) & 1u) != 0u; }
};

// How a dose record's amount is expressed.
enum class DoseUnit {
  cells,                        // AMT in CAR+ cells (NONMEM datasets); the model needs the weight
  fraction_of_dose_parameter,   // a fraction of the model's dose parameter (fractionated schedules, flags);
                                // sensitivities w.r.t. that parameter then carry through
};

// One dose record (NONMEM EVID = 1): when, how much, and the covariates a model needs to turn it into a state jump.
struct DoseRecord {
  double time_day = 0.0;
  double amount = 0.0;      // AMT: cells, or a fraction of the dose parameter (see unit)
  double weight_kg = 0.0;   // WT; 0 when unknown
  DoseUnit unit = DoseUnit::cells;
  int compartment = -1;     // NONMEM CMT: the state (index) that receives the dose; -1: the model's dose state
  double duration_day = 0.0;  // zero-order infusion over this time (NONMEM RATE = AMT/duration); 0: a bolus
};

class Model {
 public:
  virtual ~Model() = default;

  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual std::string_view description() const = 0;
  [[nodiscard]] virtual std::string_view source() const = 0;  // the publication or specification it follows
  [[nodiscard]] virtual std::span<const ParameterSpec> parameters() const = 0;
  [[nodiscard]] virtual std::span<const VariableSpec> states() const = 0;
  [[nodiscard]] virtual std::span<const VariableSpec> observables() const = 0;
  [[nodiscard]] virtual std::span<const Preset> presets() const = 0;  // e.g. product variants
  // What `cartpk fit` estimates unless told otherwise.
  [[nodiscard]] virtual std::span<const std::string_view> default_estimated() const = 0;

  // Maps parameters to the canonical member of a set of equivalent ones (the same predictions), e.g. the
  // biexponential's label switch (alpha, beta, fb) -> (beta, alpha, 1 - fb). Returns whether it changed p.
  virtual bool canonicalize(std::span<double> p) const = 0;
  // Relations between parameters that bounds cannot express (e.g. tlag < tmax); empty when all is well.
  [[nodiscard]] virtual std::string check_parameters(std::span<const double> p) const = 0;

  virtual void initial_state(const double* p, const double* dp, double* x, double* dx) const = 0;
  virtual void rhs(Regime regime, double t, const double* x, const double* dx, const double* p,
                   const double* dp, double* f, double* df) const = 0;
  virtual void observables(double t, const double* x, const double* dx, const double* p, const double* dp,
                           double* y, double* dy) const = 0;
  // Observables and their sensitivities to the parameters `which`, all directions in one pass: S holds one
  // column of n_states per entry of `which` (∂x/∂p), Sy one column of n_observables per entry.
  virtual void observable_sensitivities(double t, const double* x, const double* S, const double* p,
                                        std::span<const int> which, double* y, double* Sy) const = 0;

  // Scheduled events: state resets at parameter-dependent times. Firing event i sets bit i of the Regime.
  [[nodiscard]] virtual int n_events() const = 0;
  virtual void event_time(int event, const double* p, const double* dp, double* t, double* dt) const = 0;
  // x_after = g(x_before, p); x and x_after may not alias.
  virtual void apply_event(int event, const double* x, const double* dx, const double* p, const double* dp,
                           double* x_after, double* dx_after) const = 0;

  // Whether the model's course is defined before the infusion (t < 0): there it rests at its initial state (the
  // baseline it starts from), which the solvers report at negative output times without integrating. Models
  // that start at the infusion refuse output times < 0.
  [[nodiscard]] virtual bool defined_before_infusion() const = 0;

  [[nodiscard]] virtual bool accepts_doses() const = 0;
  // The state a dose enters unless its record names another (CMT); -1 for models without dose records.
  [[nodiscard]] virtual int dose_state() const = 0;
  // x_after = x + the dose, converted by the model to its state's units, in dose.compartment or dose_state().
  virtual void apply_dose(const DoseRecord& dose, const double* x, const double* dx, const double* p,
                          const double* dp, double* x_after, double* dx_after) const = 0;

  // Exact solution of the states, where the model has one (tests hold the ODE form against it).
  [[nodiscard]] virtual bool has_closed_form() const = 0;
  virtual void closed_form(double t, const double* p, const double* dp, double* x, double* dx) const = 0;
  // The closed form, the observables and their sensitivities to the parameters `which` at every time of `times`,
  // in one call (the parameters seeded once, so what depends on them alone is computed once): states and
  // observables as closed_form_series; state_sensitivities[i] and observable_sensitivities[j] point to column-major
  // n × which.size() blocks, entry (k, s) at [s·n + k].
  virtual void closed_form_sensitivities(std::span<const double> times, const double* p, std::span<const int> which,
                                         double* states, double* observables, double* const* state_sensitivities,
                                         double* const* observable_sensitivities) const = 0;
  // The closed form and the observables at every time of `times`, without sensitivities, in one call (the same
  // numbers as closed_form and observables time by time): column-major with n = times.size() rows,
  // states[i·n + k] and observables[j·n + k].
  virtual void closed_form_series(std::span<const double> times, const double* p, double* states,
                                  double* observables) const = 0;

  // The compile-time-sized explicit integrator of this model's equations (pkmodel/fast_integrator.hpp), which
  // OdeSolver runs for SolverOptions::integrator dopri5 or auto; nullptr when the model has none.
  [[nodiscard]] virtual std::unique_ptr<FastIntegrator> make_fast_integrator() const;

  // Conveniences built on the tables.
  [[nodiscard]] int parameter_index(std::string_view name) const;  // -1 when unknown
  [[nodiscard]] int observable_index(std::string_view name) const;
  [[nodiscard]] std::vector<double> default_parameters() const;
  [[nodiscard]] std::size_t n_parameters() const { return parameters().size(); }
  [[nodiscard]] std::size_t n_states() const { return states().size(); }
  [[nodiscard]] std::size_t n_observables() const { return observables().size(); }
};

}  // namespace cartpk
