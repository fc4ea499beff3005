#include "fitting/optimizer.hpp"

#include <nlopt.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

namespace cartpk::fitting {

namespace {
constexpr double kInfeasible = 1e300;

struct CallbackState {
  const ObjectiveFunction* f = nullptr;
  int evaluations = 0;
  std::string failure;   // first failure message, if any
  bool gradient_failed = false;
};

// Constraint callbacks: a failure counts as violated.
double constraint_callback(unsigned n, const double* x, double* grad, void* data) {
  const auto& c = *static_cast<const ObjectiveFunction*>(data);
  std::vector<double> z(x, x + n), g;
  try {
    const double value = c(z, grad ? &g : nullptr);
    if (grad) std::copy(g.begin(), g.end(), grad);
    return value;
  } catch (const std::exception&) {
    if (grad) std::fill(grad, grad + n, 0.0);
    return 1.0;
  }
}

double nlopt_callback(unsigned n, const double* x, double* grad, void* data) {
  auto& state = *static_cast<CallbackState*>(data);
  ++state.evaluations;
  std::vector<double> z(x, x + n), g;
  try {
    const double value = (*state.f)(z, grad ? &g : nullptr);
    if (grad) std::copy(g.begin(), g.end(), grad);
    if (!std::isfinite(value) || (grad && !std::all_of(g.begin(), g.end(), [](double v) { return std::isfinite(v); }))) {
      if (grad) state.gradient_failed = true;
      if (state.failure.empty()) state.failure = "non-finite objective or gradient";
      if (grad) std::fill(grad, grad + n, 0.0);
      return kInfeasible;
    }
    return value;
  } catch (const std::exception& e) {
    if (state.failure.empty()) state.failure = e.what();
    if (grad) {
      state.gradient_failed = true;
      std::fill(grad, grad + n, 0.0);
    }
    return kInfeasible;
  }
}

std::string result_name(nlopt::result r) {
  switch (r) {
    case nlopt::SUCCESS: return "success";
    case nlopt::STOPVAL_REACHED: return "stopval reached";
    case nlopt::FTOL_REACHED: return "ftol reached";
    case nlopt::XTOL_REACHED: return "xtol reached";
    case nlopt::MAXEVAL_REACHED: return "maximum evaluations reached";
    case nlopt::MAXTIME_REACHED: return "maximum time reached";
    default: return "result " + std::to_string(static_cast<int>(r));
  }
}

StartResult run(nlopt::algorithm algorithm, const Problem& problem, const std::vector<double>& start,
                const OptimizerOptions& options, CallbackState& state) {
  const auto& lower = problem.lower;
  const auto& upper = problem.upper;
  StartResult out;
  out.start = start;
  out.algorithm = algorithm == nlopt::LD_LBFGS ? "LD_LBFGS" : algorithm == nlopt::LD_SLSQP ? "LD_SLSQP"
                  : algorithm == nlopt::LN_COBYLA ? "LN_COBYLA" : "LN_BOBYQA";
  nlopt::opt opt(algorithm, static_cast<unsigned>(start.size()));  // owns its nlopt_opt handle
  opt.set_lower_bounds(lower);
  opt.set_upper_bounds(upper);
  opt.set_min_objective(nlopt_callback, &state);
  for (const auto& c : problem.constraints)
    opt.add_inequality_constraint(constraint_callback, const_cast<ObjectiveFunction*>(&c), 1e-10);
  opt.set_xtol_rel(options.xtol_rel);
  opt.set_ftol_abs(options.ftol_abs);
  opt.set_maxeval(options.max_evaluations);
  if (algorithm == nlopt::LN_BOBYQA || algorithm == nlopt::LN_COBYLA) {
    std::vector<double> step(start.size());
    for (std::size_t i = 0; i < start.size(); ++i) step[i] = std::min(0.5, 0.25 * (upper[i] - lower[i]));
    opt.set_initial_step(step);
  }
  std::vector<double> x = start;
  double value = kInfeasible;
  try {
    const auto r = opt.optimize(x, value);
    out.status = "ok: " + result_name(r);
    out.ok = true;
  } catch (const nlopt::roundoff_limited&) {
    value = opt.last_optimum_value();  // a usable optimum: progress stopped at the round-off level
    out.status = "ok: roundoff limited";
    out.ok = true;
  } catch (const std::exception& e) {
    out.status = std::string("failed: ") + e.what();
  }
  out.optimum = x;
  out.ofv = value;
  out.evaluations = state.evaluations;
  if (value >= kInfeasible * 0.5) {
    out.ok = false;
    out.status = "failed: " + (state.failure.empty() ? std::string("no feasible point") : state.failure);
  }
  return out;
}
}  // namespace

std::vector<std::vector<double>> latin_hypercube(const std::vector<double>& lower, const std::vector<double>& upper,
                                                 int n, unsigned long seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const std::size_t dim = lower.size();
  std::vector<std::vector<double>> points(static_cast<std::size_t>(n), std::vector<double>(dim));
  std::vector<int> strata(static_cast<std::size_t>(n));
  for (std::size_t d = 0; d < dim; ++d) {
    std::iota(strata.begin(), strata.end(), 0);
    std::shuffle(strata.begin(), strata.end(), rng);
    for (std::size_t i = 0; i < points.size(); ++i)
      points[i][d] = lower[d] + (upper[d] - lower[d]) * (strata[i] + u(rng)) / n;
  }
  return points;
}

bool Problem::feasible(const std::vector<double>& z) const {
  try {
    for (const auto& c : constraints)
      if (c(z, nullptr) > 0.0) return false;
    const double v = f(z, nullptr);
    return std::isfinite(v) && v < 0.5 * kInfeasible;
  } catch (const std::exception&) {
    return false;
  }
}

StartResult minimise(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options) {
  const bool constrained = !problem.constraints.empty();
  CallbackState state;
  state.f = &problem.f;
  auto result = run(constrained ? nlopt::LD_SLSQP : nlopt::LD_LBFGS, problem, start, options, state);
  if (!state.gradient_failed && result.ok) return result;
  // The gradient (sensitivities) failed somewhere, or the gradient method gave up: derivative-free from the
  // same start.
  CallbackState fallback;
  fallback.f = &problem.f;
  auto retry = run(constrained ? nlopt::LN_COBYLA : nlopt::LN_BOBYQA, problem, start, options, fallback);
  retry.evaluations += result.evaluations;
  if (!retry.ok && result.ok && result.ofv <= retry.ofv) return result;
  retry.status += " (after LD_LBFGS: " + (state.failure.empty() ? result.status : state.failure) + ")";
  return retry;
}

OptimizationResult multistart(const Problem& problem, const std::vector<double>& initial, const OptimizerOptions& options) {
  OptimizationResult out;
  std::vector<std::vector<double>> starts{initial};
  // Latin-hypercube starts, skipping infeasible points (a constraint such as beta < alpha, or parameters the
  // model cannot solve): a larger design is drawn and its feasible points taken in order.
  const auto feasible = [&problem](const std::vector<double>& z) { return problem.feasible(z); };
  if (options.starts > 1) {
    const auto candidates = latin_hypercube(problem.lower, problem.upper, 4 * (options.starts - 1), options.seed);
    for (const auto& p : candidates)
      if (static_cast<int>(starts.size()) < options.starts && feasible(p)) starts.push_back(p);
    for (const auto& p : candidates)  // too few feasible: fill up anyway (those starts will report failure)
      if (static_cast<int>(starts.size()) < options.starts && !feasible(p)) starts.push_back(p);
  }
  for (const auto& start : starts) {
    out.starts.push_back(minimise(problem, start, options));
    const auto& s = out.starts.back();
    if (s.ok && (out.best < 0 || s.ofv < out.starts[static_cast<std::size_t>(out.best)].ofv))
      out.best = static_cast<int>(out.starts.size() - 1);
  }
  return out;
}

}  // namespace cartpk::fitting
