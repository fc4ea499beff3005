#include "fitting/scoring.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

namespace cartpk::fitting {

namespace {
constexpr double kLambdaStart = 1e-3, kLambdaMax = 1e8;
constexpr int kMaxRejections = 3;

struct Point {
  std::vector<double> z, g;
  Eigen::MatrixXd h;
  double f = 0.0;
};

bool derivatives_at(const Problem& problem, Point& p) {
  try {
    p.f = problem.scoring(p.z, p.g, p.h);
  } catch (const std::exception&) {
    return false;
  }
  return std::isfinite(p.f) && p.f < 1e299 && std::all_of(p.g.begin(), p.g.end(), [](double v) { return std::isfinite(v); }) &&
         p.h.allFinite();
}
}  // namespace

StartResult minimise_scoring(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options) {
  StartResult out;
  out.start = start;
  out.algorithm = "scoring";
  const std::size_t n = start.size();
  Point here;
  here.z = start;
  for (std::size_t i = 0; i < n; ++i) here.z[i] = std::clamp(here.z[i], problem.lower[i], problem.upper[i]);
  out.evaluations = 1;
  if (!derivatives_at(problem, here)) {
    out.status = "failed: no derivatives at the start";
    return out;
  }
  double lambda = kLambdaStart;
  int rejected_in_a_row = 0;
  bool converged = false;
  std::vector<double> trial(n);
  while (out.evaluations < options.max_evaluations && lambda <= kLambdaMax) {
    // Coordinates on a bound whose gradient pushes outward stay there this step.
    std::vector<Eigen::Index> free;
    for (std::size_t i = 0; i < n; ++i) {
      const bool held = (here.z[i] <= problem.lower[i] && here.g[i] > 0.0) || (here.z[i] >= problem.upper[i] && here.g[i] < 0.0);
      if (!held) free.push_back(static_cast<Eigen::Index>(i));
    }
    if (free.empty()) {
      converged = true;
      break;
    }
    const auto m = static_cast<Eigen::Index>(free.size());
    Eigen::MatrixXd a(m, m);
    Eigen::VectorXd g(m);
    for (Eigen::Index r = 0; r < m; ++r) {
      g(r) = here.g[static_cast<std::size_t>(free[static_cast<std::size_t>(r)])];
      for (Eigen::Index c = 0; c < m; ++c) a(r, c) = here.h(free[static_cast<std::size_t>(r)], free[static_cast<std::size_t>(c)]);
    }
    // Stationary: the Newton decrement ½gᵀA⁻¹g (the undamped model's decrease) is below the OFV tolerance.
    const Eigen::LDLT<Eigen::MatrixXd> undamped(a);
    if (undamped.info() == Eigen::Success && undamped.vectorD().minCoeff() > 0.0 &&
        0.5 * g.dot(undamped.solve(g)) < 0.1 * options.ftol_abs) {
      converged = true;
      break;
    }
    const double scale = std::max(a.diagonal().cwiseAbs().maxCoeff(), 1e-12);
    Eigen::MatrixXd damped = a;
    for (Eigen::Index r = 0; r < m; ++r) damped(r, r) += lambda * std::max(a(r, r), 1e-10 * scale);
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(damped);
    if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > 0.0)) {
      lambda *= 10.0;
      continue;
    }
    const Eigen::VectorXd step = ldlt.solve(-g);
    trial = here.z;
    for (Eigen::Index r = 0; r < m; ++r) {
      const auto i = static_cast<std::size_t>(free[static_cast<std::size_t>(r)]);
      trial[i] = std::clamp(here.z[i] + step(r), problem.lower[i], problem.upper[i]);
    }
    double moved = 0.0;
    for (std::size_t i = 0; i < n; ++i) moved = std::max(moved, std::abs(trial[i] - here.z[i]) / (1.0 + std::abs(here.z[i])));
    const double predicted = -g.dot(step) - 0.5 * step.dot(a * step);
    if (moved < options.xtol_rel && lambda <= kLambdaStart) {  // an (almost) undamped step that no longer moves
      converged = true;
      break;
    }
    // Derivatives with the value: most steps are accepted, and one solve with sensitivities then serves both.
    Point next;
    next.z = trial;
    ++out.evaluations;
    const bool usable = derivatives_at(problem, next);
    const double gain = usable ? (here.f - next.f) / predicted : -1.0;  // actual over predicted decrease
    if (!usable || !(next.f < here.f)) {
      lambda *= 10.0;
      if (++rejected_in_a_row == kMaxRejections) break;  // the quadratic model keeps failing: a kink, most likely
      continue;
    }
    const double decrease = here.f - next.f;
    here = std::move(next);
    lambda = std::max(lambda * (gain > 0.25 ? 0.1 : 1.0), 1e-12);
    rejected_in_a_row = 0;
    if (decrease < options.ftol_abs) {
      converged = true;
      break;
    }
  }
  out.optimum = here.z;
  out.ofv = here.f;
  out.ok = true;
  out.status = converged ? "ok: converged" : out.evaluations >= options.max_evaluations ? "ok: maximum evaluations reached" : "ok: stalled";
  return out;
}

}  // namespace cartpk::fitting
