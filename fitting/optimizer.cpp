#include "fitting/optimizer.hpp"

#include <nlopt.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "fitting/scoring.hpp"

namespace cartpk::fitting {

namespace {
constexpr double kInfeasible = 1e300;

struct CallbackState {
  const ObjectiveFunction* f = nullptr;
  int evaluations = 0;
  std::string failure;   // first failure message, if any
  bool gradient_failed = false;
  std::vector<double> z, g;  // reused by every call
};

double nlopt_callback(unsigned n, const double* x, double* grad, void* data) {
  auto& state = *static_cast<CallbackState*>(data);
  ++state.evaluations;
  auto& z = state.z;
  auto& g = state.g;
  z.assign(x, x + n);
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
  out.algorithm = algorithm == nlopt::LD_LBFGS ? "LD_LBFGS" : "LN_BOBYQA";
  nlopt::opt opt(algorithm, static_cast<unsigned>(start.size()));  // owns its nlopt_opt handle
  opt.set_lower_bounds(lower);
  opt.set_upper_bounds(upper);
  opt.set_min_objective(nlopt_callback, &state);
  opt.set_xtol_rel(options.xtol_rel);
  opt.set_ftol_abs(options.ftol_abs);
  opt.set_maxeval(options.max_evaluations);
  if (algorithm == nlopt::LN_BOBYQA) {
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

std::vector<double> Problem::insert(const std::vector<double>& w, std::size_t k, double value) {
  std::vector<double> z(w);
  z.insert(z.begin() + static_cast<long>(k), value);
  return z;
}

std::vector<double> Problem::drop(const std::vector<double>& z, std::size_t k) {
  std::vector<double> w(z);
  w.erase(w.begin() + static_cast<long>(k));
  return w;
}

Problem Problem::with_fixed(std::size_t k, double value) const {
  Problem out;
  out.f = [full = f, k, value](const std::vector<double>& w, std::vector<double>* g) {
    std::vector<double> full_gradient;
    const double ofv = full(insert(w, k, value), g ? &full_gradient : nullptr);
    if (g) *g = drop(full_gradient, k);
    return ofv;
  };
  if (scoring)
    out.scoring = [full = scoring, k, value](const std::vector<double>& w, std::vector<double>& g, Eigen::MatrixXd& h) {
      std::vector<double> full_gradient;
      Eigen::MatrixXd full_h;
      const double ofv = full(insert(w, k, value), full_gradient, full_h);
      g = drop(full_gradient, k);
      const auto n = full_h.rows(), kk = static_cast<Eigen::Index>(k);
      h.resize(n - 1, n - 1);  // full_h without row and column k
      for (Eigen::Index r = 0, rr = 0; r < n; ++r) {
        if (r == kk) continue;
        for (Eigen::Index c = 0, cc = 0; c < n; ++c)
          if (c != kk) h(rr, cc++) = full_h(r, c);
        ++rr;
      }
      return ofv;
    };
  out.lower = drop(lower, k);
  out.upper = drop(upper, k);
  for (std::size_t c = 0; c < kink_coordinates.size(); ++c) {  // the other kink coordinates, renumbered
    if (kink_coordinates[c] == k) continue;
    out.kink_coordinates.push_back(kink_coordinates[c] < k ? kink_coordinates[c] : kink_coordinates[c] - 1);
    out.kink_points.push_back(c < kink_points.size() ? kink_points[c] : std::vector<double>{});
  }
  return out;
}

bool Problem::feasible(const std::vector<double>& z) const {
  try {
    const double v = f(z, nullptr);
    return std::isfinite(v) && v < 0.5 * kInfeasible;
  } catch (const std::exception&) {
    return false;
  }
}

namespace {
// Where the kink scan holds coordinate c: the middles of the two intervals between kink points below the one
// holding `current`, and of the two above.
std::vector<double> scan_values(const Problem& problem, std::size_t c, double current) {
  const std::size_t k = problem.kink_coordinates[c];
  std::vector<double> edges{problem.lower[k]};
  if (c < problem.kink_points.size())
    for (double v : problem.kink_points[c])
      if (v > problem.lower[k] && v < problem.upper[k]) edges.push_back(v);
  edges.push_back(problem.upper[k]);
  const auto here = static_cast<long>(std::upper_bound(edges.begin(), edges.end(), current) - edges.begin()) - 1;
  std::vector<double> values;
  for (long i = here - 2; i <= here + 2; ++i)
    if (i != here && i >= 0 && i + 1 < static_cast<long>(edges.size()))
      values.push_back(0.5 * (edges[static_cast<std::size_t>(i)] + edges[static_cast<std::size_t>(i) + 1]));
  return values;
}
}  // namespace

namespace {
// Whether a kink coordinate of z sits on one of its kinks (within 1e-3 on the estimation scale: 0.1 % of a
// log-scale tmax), where a gradient method stalls.
bool near_a_kink(const Problem& problem, const std::vector<double>& z) {
  for (std::size_t c = 0; c < problem.kink_coordinates.size() && c < problem.kink_points.size(); ++c)
    for (double point : problem.kink_points[c])
      if (std::abs(z[problem.kink_coordinates[c]] - point) <= 1e-3) return true;
  return false;
}
}  // namespace

StartResult minimise(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options) {
  // Scoring for smooth objectives only: at a kink its quadratic model fails step after step.
  if (problem.scoring && !problem.piecewise()) {
    auto scored = minimise_scoring(problem, start, options);
    if (scored.ok && scored.status == "ok: converged") return scored;
    // Stalled (a kink, round-off) or no usable information: the quasi-Newton path below, from where it got to.
    auto rest = minimise_quasi_newton(problem, scored.ok ? scored.optimum : start, options);
    rest.start = start;
    rest.evaluations += scored.evaluations;
    if (scored.ok && scored.ofv < rest.ofv) {
      rest.optimum = scored.optimum;
      rest.ofv = scored.ofv;
      rest.ok = true;
    }
    rest.algorithm = "scoring, then " + rest.algorithm;
    return rest;
  }
  return minimise_quasi_newton(problem, start, options);
}

StartResult minimise_quasi_newton(const Problem& problem, const std::vector<double>& start,
                                  const OptimizerOptions& options) {
  CallbackState state;
  state.f = &problem.f;
  auto result = run(nlopt::LD_LBFGS, problem, start, options, state);
  if (!state.gradient_failed && result.ok) return result;
  const bool progressed = result.ofv < kInfeasible * 0.5 && problem.feasible(result.optimum);
  if (!state.gradient_failed && !problem.piecewise() && progressed) {
    // Smooth objective, exact gradient: L-BFGS gives up where solver round-off dominates the last digits of
    // the OFV; a fresh L-BFGS from there confirms (or continues) far more cheaply than a derivative-free search.
    CallbackState again;
    again.f = &problem.f;
    auto retry = run(nlopt::LD_LBFGS, problem, result.optimum, options, again);
    retry.start = start;
    retry.evaluations += result.evaluations;
    if (!again.gradient_failed && retry.ok) {
      if (retry.ofv > result.ofv) {  // keep the better point of the two runs
        retry.optimum = result.optimum;
        retry.ofv = result.ofv;
      }
      retry.status += " (restarted after LD_LBFGS: " + (state.failure.empty() ? result.status : state.failure) + ")";
      return retry;
    }
  }
  // The gradient (sensitivities) failed somewhere, or L-BFGS gave up (a kink, e.g. tmax at a sampling day):
  // derivative-free, from where L-BFGS got to when that is better than the start.
  CallbackState fallback;
  fallback.f = &problem.f;
  auto retry = run(nlopt::LN_BOBYQA, problem, progressed ? result.optimum : start, options, fallback);
  retry.start = start;
  retry.evaluations += result.evaluations;
  if (!retry.ok && result.ok && result.ofv <= retry.ofv) return result;
  retry.status += " (after LD_LBFGS: " + (state.failure.empty() ? result.status : state.failure) + ")";
  return retry;
}

StartResult minimise_derivative_free(const Problem& problem, const std::vector<double>& start,
                                     const OptimizerOptions& options) {
  CallbackState state;
  state.f = &problem.f;
  return run(nlopt::LN_BOBYQA, problem, start, options, state);
}

OptimizationResult multistart(const Problem& problem, const std::vector<double>& initial, const OptimizerOptions& options) {
  OptimizationResult out;
  std::vector<std::vector<double>> starts{initial};
  // Latin-hypercube starts: half are the lowest objectives of a screening design four times larger
  // (evaluated once at each point), half are plain design points, for spread. Points the model rejects or
  // cannot solve are never starts.
  if (options.starts > 1) {
    const int wanted = options.starts - 1;
    std::vector<std::pair<double, std::vector<double>>> screened;
    for (auto& p : latin_hypercube(problem.lower, problem.upper, 4 * wanted, options.seed)) {
      double value = kInfeasible;
      try {
        value = problem.f(p, nullptr);
      } catch (const std::exception&) {
      }
      if (std::isfinite(value) && value < 0.5 * kInfeasible) screened.emplace_back(value, std::move(p));
    }
    std::vector<std::vector<double>> plain;  // design order: a random spread
    for (const auto& [value, p] : screened) plain.push_back(p);
    std::stable_sort(screened.begin(), screened.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::set<std::vector<double>> taken;
    for (std::size_t i = 0; i < screened.size() && static_cast<int>(taken.size()) < (wanted + 1) / 2; ++i)
      taken.insert(screened[i].second);
    for (std::size_t i = 0; i < plain.size() && static_cast<int>(taken.size()) < wanted; ++i) taken.insert(plain[i]);
    for (const auto& p : screened)  // keep a reproducible order: by screened objective
      if (taken.count(p.second)) starts.push_back(p.second);
  }
  auto consider = [&out](StartResult r) {
    out.starts.push_back(std::move(r));
    const auto& s = out.starts.back();
    if (s.ok && (out.best < 0 || s.ofv < out.starts[static_cast<std::size_t>(out.best)].ofv))
      out.best = static_cast<int>(out.starts.size() - 1);
  };
  for (const auto& start : starts) consider(minimise(problem, start, options));
  // Kink scan: a gradient method does not cross a kink (stein2019's tmax on a sampling day), and the better
  // basin is often across one. Each kink coordinate in turn is held in the middle of the two intervals between
  // kink points on either side of the best optimum's (the box's bounds close the outer intervals), the others
  // are re-optimised with it held there, then all are released. Repeated while it improves.
  const int rounds = options.kink_scan_rounds >= 0 ? options.kink_scan_rounds : (problem.piecewise() ? 1 : 0);
  for (int round = 0; round < rounds && out.best >= 0; ++round) {
    const double before = out.starts[static_cast<std::size_t>(out.best)].ofv;
    const auto centre = out.starts[static_cast<std::size_t>(out.best)].optimum;
    for (std::size_t c = 0; c < problem.kink_coordinates.size(); ++c) {
      const std::size_t k = problem.kink_coordinates[c];
      for (double value : scan_values(problem, c, centre[k])) {
        const Problem held = problem.with_fixed(k, value);
        const auto w = Problem::drop(centre, k);
        if (!held.feasible(w)) continue;
        const auto settled = minimise(held, w, options);
        if (!settled.ok) continue;
        const auto z = Problem::insert(settled.optimum, k, value);
        auto r = minimise(problem, z, options);
        r.start = z;
        r.evaluations += settled.evaluations;
        r.algorithm += " (kink scan)";
        consider(std::move(r));
      }
    }
    if (out.starts[static_cast<std::size_t>(out.best)].ofv > before - 1e-6) break;
  }
  // Polish: L-BFGS stops at kinks (e.g. tmax on a sampling day); a derivative-free pass from the best optimum
  // moves along them. Kept as an extra entry, so every start's own result stays visible.
  if (!problem.piecewise() || out.best < 0) return out;
  const auto best = out.starts[static_cast<std::size_t>(out.best)].optimum;
  if (!near_a_kink(problem, best)) return out;  // smooth there: L-BFGS's optimum stands
  CallbackState state;
  state.f = &problem.f;
  auto r = run(nlopt::LN_BOBYQA, problem, best, options, state);
  r.start = best;
  r.algorithm = "LN_BOBYQA (polish)";
  consider(std::move(r));
  return out;
}

}  // namespace cartpk::fitting
