#include "pkmodel/ode_solver.hpp"

#include <cvodes/cvodes.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "pkmodel/errors.hpp"

namespace cartpk {

// What the C callbacks see: the model, this solve's parameters and regime, and scratch space.
struct OdeSolver::Callbacks {
  const Model* model = nullptr;
  const double* p = nullptr;
  Regime regime;
  std::vector<int> sens_parameters;
  std::vector<double> dp;       // zero except at one entry while a sensitivity is evaluated
  std::vector<double> scratch;  // n_states
  std::vector<double> unit;     // n_states, a unit direction for Jacobian columns
  std::string* message = nullptr;
  // Zero-order infusions running now: a constant input per state, and its derivative per sensitivity parameter.
  struct Infusion {
    const DoseRecord* dose = nullptr;
    std::vector<double> rate;       // n_states, state units per day
    std::vector<double> rate_sens;  // n_sens × n_states
  };
  std::vector<Infusion> infusions;
  std::vector<Infusion> finished;  // ended infusions, whose storage the next one reuses

  void end_all_infusions() {
    for (auto& i : infusions) finished.push_back(std::move(i));
    infusions.clear();
  }
};

namespace {

using Callbacks = OdeSolver::Callbacks;

bool all_finite(const double* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// Callbacks return 0 on success, > 0 for a recoverable failure (CVODE retries with a smaller step: used for
// non-finite values), < 0 to stop; no exception crosses into C.
int rhs_callback(double t, N_Vector y, N_Vector ydot, void* user) {
  auto& cb = *static_cast<Callbacks*>(user);
  try {
    double* f = N_VGetArrayPointer(ydot);
    cb.model->rhs(cb.regime, t, N_VGetArrayPointer(y), nullptr, cb.p, nullptr, f, nullptr);
    for (const auto& infusion : cb.infusions)
      for (std::size_t i = 0; i < infusion.rate.size(); ++i) f[i] += infusion.rate[i];
    return all_finite(f, cb.scratch.size()) ? 0 : 1;
  } catch (const std::exception& e) {
    *cb.message = e.what();
    return -1;
  }
}

int jacobian_callback(double t, N_Vector y, N_Vector /*fy*/, SUNMatrix J, void* user, N_Vector, N_Vector,
                      N_Vector) {
  auto& cb = *static_cast<Callbacks*>(user);
  try {
    const std::size_t nx = cb.scratch.size();
    for (std::size_t j = 0; j < nx; ++j) {
      cb.unit[j] = 1.0;
      double* column = SM_COLUMN_D(J, static_cast<sunindextype>(j));
      cb.model->rhs(cb.regime, t, N_VGetArrayPointer(y), cb.unit.data(), cb.p, nullptr, cb.scratch.data(),
                    column);
      cb.unit[j] = 0.0;
      if (!all_finite(column, nx)) return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    *cb.message = e.what();
    return -1;
  }
}

// ySdot = J·yS + ∂f/∂p_i: one directional derivative of the right-hand side.
int sensitivity_callback(int /*ns*/, double t, N_Vector y, N_Vector /*ydot*/, int is, N_Vector yS, N_Vector ySdot,
                         void* user, N_Vector, N_Vector) {
  auto& cb = *static_cast<Callbacks*>(user);
  try {
    const auto ip = static_cast<std::size_t>(cb.sens_parameters[static_cast<std::size_t>(is)]);
    cb.dp[ip] = 1.0;
    double* out = N_VGetArrayPointer(ySdot);
    cb.model->rhs(cb.regime, t, N_VGetArrayPointer(y), N_VGetArrayPointer(yS), cb.p, cb.dp.data(),
                  cb.scratch.data(), out);
    cb.dp[ip] = 0.0;
    const std::size_t nx = cb.scratch.size();
    for (const auto& infusion : cb.infusions)
      for (std::size_t i = 0; i < nx; ++i) out[i] += infusion.rate_sens[static_cast<std::size_t>(is) * nx + i];
    return all_finite(out, cb.scratch.size()) ? 0 : 1;
  } catch (const std::exception& e) {
    *cb.message = e.what();
    return -1;
  }
}

void error_handler(int error_code, const char* /*module*/, const char* function, char* msg, void* user) {
  if (error_code >= 0) return;  // warnings are counted in the statistics, not printed
  *static_cast<std::string*>(user) = std::string(function) + ": " + msg;
}

std::string flag_name(int flag) {
  std::unique_ptr<char, decltype(&std::free)> name(CVodeGetReturnFlagName(flag), &std::free);
  return name ? std::string(name.get()) : "flag " + std::to_string(flag);
}

struct ScheduledEvent {
  double time = 0.0;
  int order = 0;         // ties: infusion ends, then doses, then model events in their own order
  int model_event = -1;  // -1: a dose (a bolus, or the start or end of an infusion)
  const DoseRecord* dose = nullptr;
  int infusion = 0;      // +1: an infusion starts, -1: it ends, 0: a bolus or a model event
  std::vector<double> time_sensitivity;  // d(event time)/d(sensitivity parameter s)
};

}  // namespace

struct OdeSolver::Scratch {
  std::vector<double> dp, x, S, f, y_value, y_rate;
  std::vector<double> x_minus, x_plus, f_minus, f_plus, g_f, ds, zero;  // an event's jump
  std::vector<ScheduledEvent> events;  // the first n_events are this solve's, in time order
  std::size_t n_events = 0;
  // The next event slot, reusing its storage.
  ScheduledEvent& add_event(double time, int order, int model_event, const DoseRecord* dose, int infusion, std::size_t ns) {
    if (n_events == events.size()) events.emplace_back();
    auto& ev = events[n_events++];
    ev.time = time;
    ev.order = order;
    ev.model_event = model_event;
    ev.dose = dose;
    ev.infusion = infusion;
    ev.time_sensitivity.assign(ns, 0.0);
    return ev;
  }
  // Insertion sort by (time, order): stable, few events, and no buffer (std::stable_sort allocates one).
  void sort_events() {
    for (std::size_t i = 1; i < n_events; ++i)
      for (std::size_t j = i; j > 0; --j) {
        const auto& a = events[j - 1];
        const auto& b = events[j];
        if (!(b.time < a.time || (b.time == a.time && b.order < a.order))) break;
        std::swap(events[j - 1], events[j]);
      }
  }
};

OdeSolver::OdeSolver(const Model& model, SolverOptions options)
    : model_(model), options_(options), callbacks_(std::make_unique<Callbacks>()), scratch_(std::make_unique<Scratch>()) {
  SUNContext ctx = nullptr;
  if (SUNContext_Create(nullptr, &ctx) != 0) throw ModelError(std::string(model.name()), "SUNContext_Create failed");
  context_.reset(ctx);
  const auto nx = static_cast<sunindextype>(model.n_states());
  y_.reset(N_VNew_Serial(nx, ctx));
  abstol_.reset(N_VNew_Serial(nx, ctx));
  jacobian_.reset(SUNDenseMatrix(nx, nx, ctx));
  linear_solver_.reset(SUNLinSol_Dense(y_.get(), jacobian_.get(), ctx));
  cvode_.reset(CVodeCreate(CV_BDF, ctx));
  if (!y_ || !abstol_ || !jacobian_ || !linear_solver_ || !cvode_)
    throw ModelError(std::string(model.name()), "could not allocate the CVODES workspace");
  for (std::size_t i = 0; i < model.n_states(); ++i)
    NV_Ith_S(abstol_.get(), static_cast<sunindextype>(i)) = options_.atol_scale * model.states()[i].typical_scale;
  N_VConst(0.0, y_.get());
  N_VEnableFusedOps_Serial(y_.get(), SUNTRUE);  // one call per vector-array operation on the sensitivities

  auto& cb = *callbacks_;
  cb.model = &model_;
  cb.dp.assign(model.n_parameters(), 0.0);
  cb.scratch.assign(model.n_states(), 0.0);
  cb.unit.assign(model.n_states(), 0.0);
  cb.message = &last_message_;

  void* mem = cvode_.get();
  check(CVodeSetErrHandlerFn(mem, error_handler, &last_message_), "CVodeSetErrHandlerFn");
  check(CVodeInit(mem, rhs_callback, 0.0, y_.get()), "CVodeInit");
  check(CVodeSVtolerances(mem, options_.rtol, abstol_.get()), "CVodeSVtolerances");
  check(CVodeSetLinearSolver(mem, linear_solver_.get(), jacobian_.get()), "CVodeSetLinearSolver");
  check(CVodeSetJacFn(mem, jacobian_callback), "CVodeSetJacFn");
  check(CVodeSetUserData(mem, callbacks_.get()), "CVodeSetUserData");
  check(CVodeSetMaxNumSteps(mem, options_.max_steps), "CVodeSetMaxNumSteps");
  check(CVodeSetMaxHnilWarns(mem, -1), "CVodeSetMaxHnilWarns");
  if (options_.max_step_day > 0.0) check(CVodeSetMaxStep(mem, options_.max_step_day), "CVodeSetMaxStep");
  const bool explicit_wanted = options_.integrator == Integrator::dopri5 ||
                               (options_.integrator == Integrator::automatic && model.n_states() <= kAutoMaxStates);
  if (explicit_wanted) fast_ = model.make_fast_integrator();
}

const char* integrator_name(Integrator integrator) {
  switch (integrator) {
    case Integrator::cvodes: return "cvodes";
    case Integrator::dopri5: return "dopri5";
    case Integrator::automatic: return "auto";
  }
  return "cvodes";
}

Integrator parse_integrator(const std::string& name) {
  for (auto i : {Integrator::cvodes, Integrator::dopri5, Integrator::automatic})
    if (name == integrator_name(i)) return i;
  throw InputError("integrator '" + name + "': expected cvodes, dopri5 or auto");
}

OdeSolver::~OdeSolver() = default;

std::unique_ptr<Solver> make_solver(const Model& model, const std::string& method, const SolverOptions& options) {
  if (method == "closed") return std::make_unique<ClosedFormSolver>(model);
  if (method == "ode") return std::make_unique<OdeSolver>(model, options);
  throw InputError("solution method '" + method + "': expected 'ode' or 'closed'");
}

void OdeSolver::check(int flag, const char* function) const {
  if (flag >= 0) return;
  throw SolverError(function, flag, flag_name(flag), last_message_, t_, std::string(model_.name()));
}

void OdeSolver::prepare(double t0, const SimulationRequest& request, bool explicit_first) {
  auto& cb = *callbacks_;
  cb.p = request.parameters.data();
  cb.regime = Regime{};
  cb.sens_parameters = request.sensitivity_parameters;
  cb.end_all_infusions();
  t_ = t0;
  stats_ = SolverStats{};
  last_message_.clear();

  const int ns = static_cast<int>(request.sensitivity_parameters.size());
  void* mem = cvode_.get();
  if (ns > 0 && ns != sens_allocated_) {
    if (sens_allocated_ > 0) CVodeSensFree(mem);
    sens_ = sundials::VectorArray(ns, y_.get());
    for (int s = 0; s < ns; ++s) N_VConst(0.0, sens_.get()[s]);
    check(CVodeSensInit1(mem, ns, CV_STAGGERED, sensitivity_callback, sens_.get()), "CVodeSensInit1");
    check(CVodeSensEEtolerances(mem), "CVodeSensEEtolerances");
    check(CVodeSetSensErrCon(mem, SUNTRUE), "CVodeSetSensErrCon");
    sens_allocated_ = ns;
  }
  pbar_.resize(static_cast<std::size_t>(ns));  // scales of the sensitivity tolerances
  for (int s = 0; s < ns; ++s) {
    const double p = std::abs(request.parameters[static_cast<std::size_t>(request.sensitivity_parameters[s])]);
    pbar_[static_cast<std::size_t>(s)] = p > 0.0 ? p : 1.0;
  }
  if (ns > 0) check(CVodeSetSensParams(mem, nullptr, pbar_.data(), nullptr), "CVodeSetSensParams");
  if (ns == 0 && sens_active_) check(CVodeSensToggleOff(mem), "CVodeSensToggleOff");
  sens_active_ = ns > 0;
  cvodes_counting_ = false;
  // The explicit integrator holds at most one sensitivity column per parameter (a request may repeat one).
  fast_active_ = fast_ != nullptr && explicit_first && request.sensitivity_parameters.size() <= model_.n_parameters();
  if (fast_active_) {
    fast_->configure(cb.p, request.sensitivity_parameters, pbar_.data(), options_.rtol,
                     N_VGetArrayPointer(abstol_.get()), options_.max_step_day, options_.max_steps);
    fast_->reset_counters();
  }
}

void OdeSolver::reinitialise(double t) {
  if (fast_active_) restart_fast(t);
  else restart_cvodes(t);
  ++stats_.reinitialisations;
}

void OdeSolver::restart_cvodes(double t) {
  collect_stats();
  void* mem = cvode_.get();
  check(CVodeReInit(mem, t, y_.get()), "CVodeReInit");
  if (sens_active_) check(CVodeSensReInit(mem, CV_STAGGERED, sens_.get()), "CVodeSensReInit");
  cvodes_counting_ = true;
}

// The explicit integrator starts a new course at t from y_ and sens_, with the infusions running now as input.
void OdeSolver::restart_fast(double t) {
  const auto& cb = *callbacks_;
  const std::size_t nx = model_.n_states(), ns = cb.sens_parameters.size();
  S_buffer_.resize(nx * ns);
  for (std::size_t s = 0; s < ns; ++s) std::copy_n(sens_.data(static_cast<int>(s)), nx, S_buffer_.data() + s * nx);
  const bool infusing = !cb.infusions.empty();
  if (infusing) {
    input_.assign(nx, 0.0);
    input_sens_.assign(nx * ns, 0.0);
    for (const auto& infusion : cb.infusions) {
      for (std::size_t i = 0; i < nx; ++i) input_[i] += infusion.rate[i];
      for (std::size_t i = 0; i < nx * ns; ++i) input_sens_[i] += infusion.rate_sens[i];
    }
  }
  fast_->restart(cb.regime, t, N_VGetArrayPointer(y_.get()), S_buffer_.data(), infusing ? input_.data() : nullptr,
                 infusing ? input_sens_.data() : nullptr);
}

// Stiffness or a failure of the explicit integrator: CVODES BDF continues from where it stopped, to the end.
void OdeSolver::hand_over_to_cvodes(double t_stop) {
  const std::size_t nx = model_.n_states(), ns = callbacks_->sens_parameters.size();
  fast_->step_state(N_VGetArrayPointer(y_.get()), S_buffer_.data());
  for (std::size_t s = 0; s < ns; ++s) std::copy_n(S_buffer_.data() + s * nx, nx, sens_.data(static_cast<int>(s)));
  t_ = fast_->step_time();
  fast_active_ = false;
  ++stats_.handovers;
  restart_cvodes(t_);
  check(CVodeSetStopTime(cvode_.get(), t_stop), "CVodeSetStopTime");
}

void OdeSolver::collect_stats() {
  if (!cvodes_counting_) return;  // CVODES has not run in this solve since its counters were last read
  void* mem = cvode_.get();
  long steps = 0, rhs = 0, jac = 0, etf = 0, ncf = 0, srhs = 0;
  CVodeGetNumSteps(mem, &steps);
  CVodeGetNumRhsEvals(mem, &rhs);
  CVodeGetNumJacEvals(mem, &jac);
  CVodeGetNumErrTestFails(mem, &etf);
  CVodeGetNumNonlinSolvConvFails(mem, &ncf);
  if (sens_active_) CVodeGetSensNumRhsEvals(mem, &srhs);
  stats_ += SolverStats{steps, rhs, jac, etf, ncf, srhs, 0, 0, 0};
}

void OdeSolver::integrate_to(double t_target, double t_stop) {
  if (fast_active_) {
    const std::size_t nx = model_.n_states(), ns = callbacks_->sens_parameters.size();
    if (fast_->advance(t_target, t_stop, N_VGetArrayPointer(y_.get()), S_buffer_.data()) == RkStatus::reached) {
      for (std::size_t s = 0; s < ns; ++s)
        std::copy_n(S_buffer_.data() + s * nx, nx, sens_.data(static_cast<int>(s)));
      t_ = t_target;
      return;
    }
    hand_over_to_cvodes(t_stop);
  } else {
    check(CVodeSetStopTime(cvode_.get(), t_stop), "CVodeSetStopTime");
  }
  void* mem = cvode_.get();
  double t_reached = t_;
  const int flag = CVode(mem, t_target, y_.get(), &t_reached, CV_NORMAL);
  if (flag < 0) {
    t_ = t_reached;
    CVodeGetCurrentTime(mem, &t_);
    check(flag, "CVode");
  }
  if (sens_active_) check(CVodeGetSens(mem, &t_reached, sens_.get()), "CVodeGetSens");
  t_ = t_target;
}

// A zero-order infusion starts or ends: the dose's converted amount (and its parameter derivatives) spread
// evenly over its duration is added to, or taken from, the right-hand side. The state does not jump.
void OdeSolver::switch_infusion(double t, const DoseRecord& dose, bool start) {
  auto& cb = *callbacks_;
  if (!start) {
    for (std::size_t k = 0; k < cb.infusions.size(); ++k)
      if (cb.infusions[k].dose == &dose) {
        cb.finished.push_back(std::move(cb.infusions[k]));
        cb.infusions.erase(cb.infusions.begin() + static_cast<long>(k));
        break;
      }
    return reinitialise(t);
  }
  const std::size_t nx = model_.n_states(), ns = cb.sens_parameters.size();
  auto& work = *scratch_;
  work.zero.assign(nx, 0.0);
  work.x_plus.resize(nx);
  const auto& zero = work.zero;
  auto& unused = work.x_plus;
  Callbacks::Infusion infusion;
  if (!cb.finished.empty()) {  // an ended infusion's vectors, already of the right capacity
    infusion = std::move(cb.finished.back());
    cb.finished.pop_back();
  }
  infusion.dose = &dose;
  infusion.rate.resize(nx);
  infusion.rate_sens.resize(ns * nx);
  model_.apply_dose(dose, zero.data(), nullptr, cb.p, nullptr, infusion.rate.data(), nullptr);
  for (double& r : infusion.rate) r /= dose.duration_day;
  for (std::size_t s = 0; s < ns; ++s) {
    const auto ip = static_cast<std::size_t>(cb.sens_parameters[s]);
    cb.dp[ip] = 1.0;
    model_.apply_dose(dose, zero.data(), zero.data(), cb.p, cb.dp.data(), unused.data(), infusion.rate_sens.data() + s * nx);
    cb.dp[ip] = 0.0;
    for (std::size_t i = 0; i < nx; ++i) infusion.rate_sens[s * nx + i] /= dose.duration_day;
  }
  cb.infusions.push_back(std::move(infusion));
  reinitialise(t);
}

// A jump x+ = g(x-, p) at time τ(p). Sensitivities jump too:
//   s+ = g_x·s- + g_p + (g_x·f- − f+)·dτ/dp     (f± the right-hand sides just before and after).
void OdeSolver::apply_event(double t, int model_event, const DoseRecord* dose,
                            const std::vector<double>& event_time_sens) {
  auto& cb = *callbacks_;
  const std::size_t nx = model_.n_states();
  const double* p = cb.p;
  auto jump = [&](const double* x, const double* dx, const double* dp, double* xa, double* dxa) {
    if (dose) model_.apply_dose(*dose, x, dx, p, dp, xa, dxa);
    else model_.apply_event(model_event, x, dx, p, dp, xa, dxa);
  };
  const Regime before = cb.regime;
  Regime after = before;
  if (model_event >= 0) after.fired |= 1u << static_cast<unsigned>(model_event);

  double* y = N_VGetArrayPointer(y_.get());
  auto& work = *scratch_;
  auto& x_minus = work.x_minus;
  auto& x_plus = work.x_plus;
  auto& f_minus = work.f_minus;
  auto& f_plus = work.f_plus;
  auto& g_f = work.g_f;
  auto& ds = work.ds;
  x_minus.assign(y, y + nx);
  for (auto* v : {&x_plus, &f_minus, &f_plus, &g_f, &ds}) v->assign(nx, 0.0);
  jump(x_minus.data(), nullptr, nullptr, x_plus.data(), nullptr);

  const bool moving_time =
      std::any_of(event_time_sens.begin(), event_time_sens.end(), [](double d) { return d != 0.0; });
  if (sens_active_ && moving_time) {
    model_.rhs(before, t, x_minus.data(), nullptr, p, nullptr, f_minus.data(), nullptr);
    model_.rhs(after, t, x_plus.data(), nullptr, p, nullptr, f_plus.data(), nullptr);
    jump(x_minus.data(), f_minus.data(), nullptr, ds.data(), g_f.data());  // g_x·f-
  }
  for (int s = 0; sens_active_ && s < sens_.size(); ++s) {
    const auto ip = static_cast<std::size_t>(cb.sens_parameters[static_cast<std::size_t>(s)]);
    double* sv = sens_.data(s);
    cb.dp[ip] = 1.0;
    jump(x_minus.data(), sv, cb.dp.data(), x_plus.data(), ds.data());
    cb.dp[ip] = 0.0;
    const double dtau = event_time_sens[static_cast<std::size_t>(s)];
    for (std::size_t i = 0; i < nx; ++i) sv[i] = ds[i] + (dtau != 0.0 ? (g_f[i] - f_plus[i]) * dtau : 0.0);
  }
  std::copy(x_plus.begin(), x_plus.end(), y);
  cb.regime = after;
  reinitialise(t);
}

void OdeSolver::solve(const SimulationRequest& request, SimulationResult& result) {
  if (!fast_) return solve_once(request, result, false);
  try {
    return solve_once(request, result, true);
  } catch (const SolverError&) {
    // dopri5, or CVODES after its hand-over (from a state near a singularity of the model, say), failed: the
    // whole solve again on CVODES alone, so the explicit path never fails where CVODES succeeds.
  }
  const RkCounters wasted = fast_->counters();
  solve_once(request, result, false);
  result.stats.steps += wasted.steps;
  result.stats.explicit_steps += wasted.steps;
  result.stats.rhs_evaluations += wasted.rhs_evaluations;
  result.stats.handovers += 1;
}

void OdeSolver::solve_once(const SimulationRequest& request, SimulationResult& result, bool explicit_first) {
  validate_request(model_, request);
  const std::size_t nx = model_.n_states();
  const std::size_t ns = request.sensitivity_parameters.size();
  const double* p = request.parameters.data();
  constexpr double t0 = 0.0;  // day of infusion: every model starts here

  // Initial state and its sensitivities.
  auto& work = *scratch_;
  auto& dp = work.dp;
  dp.assign(model_.n_parameters(), 0.0);
  work.x.resize(nx);
  double* y = N_VGetArrayPointer(y_.get());
  model_.initial_state(p, nullptr, y, nullptr);
  prepare(t0, request, explicit_first);
  for (std::size_t s = 0; s < ns; ++s) {
    const auto ip = static_cast<std::size_t>(request.sensitivity_parameters[s]);
    dp[ip] = 1.0;
    model_.initial_state(p, dp.data(), work.x.data(), sens_.data(static_cast<int>(s)));
    dp[ip] = 0.0;
  }

  // The events of this solve: model resets at parameter-dependent times, then dose records.
  work.n_events = 0;
  for (int e = 0; e < model_.n_events(); ++e) {
    auto& ev = work.add_event(0.0, 1 + e, e, nullptr, 0, ns);
    model_.event_time(e, p, nullptr, &ev.time, nullptr);
    for (std::size_t s = 0; s < ns; ++s) {
      const auto ip = static_cast<std::size_t>(request.sensitivity_parameters[s]);
      dp[ip] = 1.0;
      double t_unused = 0.0;
      model_.event_time(e, p, dp.data(), &t_unused, &ev.time_sensitivity[s]);
      dp[ip] = 0.0;
    }
  }
  for (const auto& dose : request.doses) {
    if (dose.duration_day > 0.0) {
      work.add_event(dose.time_day, 0, -1, &dose, +1, ns);
      work.add_event(dose.time_day + dose.duration_day, -1, -1, &dose, -1, ns);
    } else {
      work.add_event(dose.time_day, 0, -1, &dose, 0, ns);
    }
  }
  work.sort_events();
  const auto& events = work.events;
  const std::size_t n_events = work.n_events;

  detail::prepare_result(model_, request, "ode", result, output_scratch_);
  auto& S = work.S;
  auto& f = work.f;
  auto& y_value = work.y_value;
  auto& y_rate = work.y_rate;
  S.resize(nx * ns);
  f.resize(nx);
  y_value.resize(model_.n_observables());
  y_rate.resize(model_.n_observables());
  auto record = [&](std::size_t k, double t) {
    for (std::size_t s = 0; s < ns; ++s)
      std::copy_n(sens_.data(static_cast<int>(s)), nx, S.data() + s * nx);
    detail::record_output(model_, request, k, t, y, S.data(), result, output_scratch_);
    // dy/dt = (∂y/∂x)·f at the output, for metrics that locate extrema and crossings between outputs.
    model_.rhs(callbacks_->regime, t, y, nullptr, p, nullptr, f.data(), nullptr);
    for (const auto& infusion : callbacks_->infusions)
      for (std::size_t i = 0; i < nx; ++i) f[i] += infusion.rate[i];
    model_.observables(t, y, f.data(), p, nullptr, y_value.data(), y_rate.data());
    for (std::size_t j = 0; j < y_rate.size(); ++j) result.observable_rates(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(j)) = y_rate[j];
  };

  reinitialise(t0);
  stats_ = SolverStats{};
  const double t_end = request.times_day.back();
  std::size_t next_event = 0;
  std::size_t k = 0;
  // Before the infusion (models defined there; validate_request refuses the others): the initial state, not
  // integrated.
  for (; k < request.times_day.size() && request.times_day[k] < t0; ++k) record(k, request.times_day[k]);
  while (k < request.times_day.size()) {
    if (next_event < n_events && events[next_event].time <= t_) {  // right-continuous: event, then output
      const auto& ev = events[next_event++];
      if (ev.infusion != 0) switch_infusion(t_, *ev.dose, ev.infusion > 0);
      else apply_event(t_, ev.model_event, ev.dose, ev.time_sensitivity);
      if (ev.model_event >= 0 && t_ >= request.times_day.front())  // the solution at a model event, for metrics
        detail::record_event_point(model_, t_, y, p, result, output_scratch_);
      result.discontinuities_day.push_back(t_);
      continue;
    }
    const double t_out = request.times_day[k];
    if (t_out <= t_ + 1e-12 * std::max(1.0, std::abs(t_))) {
      record(k, t_);
      ++k;
      continue;
    }
    const double t_stop = next_event < n_events ? std::min(events[next_event].time, t_end) : t_end;
    integrate_to(std::min(t_out, t_stop), t_stop);
  }
  collect_stats();
  cvodes_counting_ = false;
  if (fast_active_ || stats_.handovers > 0) {  // the explicit integrator's work in this solve
    const RkCounters& rk = fast_->counters();
    const long n_sens = static_cast<long>(request.sensitivity_parameters.size());
    stats_ += SolverStats{rk.steps, rk.rhs_evaluations, 0, rk.rejected, 0, n_sens > 0 ? rk.rhs_evaluations * n_sens : 0, 0,
                          rk.steps, 0};
  }
  result.stats = stats_;
}

}  // namespace cartpk
