#pragma once
// Multi-start bounded minimisation: Fisher scoring where the objective has its expected information, else
// NLopt's LD_LBFGS (exact gradients), from each start, with a derivative-free fallback (LN_BOBYQA) for a start
// whose gradient evaluation fails or that stops at a kink.
// Starts: the given initial point, then Latin-hypercube points of the (transformed) box, half of them the best
// of a screening design, reproducible by seed; for piecewise objectives, a scan across the kinks and a
// derivative-free polish.
#include <Eigen/Dense>
#include <functional>
#include <string>
#include <vector>

namespace cartpk::fitting {

// f(z, gradient or nullptr) -> value; may throw (a failed solve): the optimiser then treats z as infeasible.
using ObjectiveFunction = std::function<double(const std::vector<double>&, std::vector<double>*)>;
// f(z, gradient, information) -> value, with the gradient and an approximation of the Hessian (the expected
// information) from the same evaluation; may throw as f does.
using ScoringFunction = std::function<double(const std::vector<double>&, std::vector<double>&, Eigen::MatrixXd&)>;

// What is minimised: f over the box [lower, upper] (LD_LBFGS, falling back to LN_BOBYQA).
struct Problem {
  ObjectiveFunction f;
  ScoringFunction scoring;  // optional: minimise() then starts with Fisher scoring (fitting/scoring.hpp)
  std::vector<double> lower, upper;
  // Piecewise objective: the coordinates that move events (stein2019's tmax), whose kinks (tmax on a sampling
  // day) a gradient method does not cross. Such problems get help across the kinks: see multistart().
  std::vector<std::size_t> kink_coordinates;
  // For each kink coordinate, the values where the objective has its kinks (sorted), e.g. tmax = each
  // sampling day on the estimation scale.
  std::vector<std::vector<double>> kink_points;
  [[nodiscard]] bool piecewise() const { return !kink_coordinates.empty(); }

  // The same problem in the other coordinates, with coordinate k held at `value` (profiles, kink scans).
  // Points of the restricted problem map back with `insert`.
  [[nodiscard]] Problem with_fixed(std::size_t k, double value) const;
  [[nodiscard]] static std::vector<double> insert(const std::vector<double>& w, std::size_t k, double value);
  [[nodiscard]] static std::vector<double> drop(const std::vector<double>& z, std::size_t k);
  [[nodiscard]] bool feasible(const std::vector<double>& z) const;  // f is finite there
};

struct OptimizerOptions {
  int starts = 10;
  unsigned long seed = 1;
  double xtol_rel = 1e-6;
  double ftol_abs = 1e-6;       // on the OFV
  int max_evaluations = 4000;   // per start; 0: evaluate the OFV at the initial values only
  int kink_scan_rounds = -1;     // rounds of the kink scan around the best optimum (see multistart); 0: none;
                                 // -1: one round for piecewise problems, none for smooth ones
};

struct StartResult {
  std::vector<double> start;
  std::vector<double> optimum;
  double ofv = 0.0;
  int evaluations = 0;
  std::string algorithm;  // LD_LBFGS or LN_BOBYQA (fallback)
  std::string status;     // "ok: <nlopt result>", or "failed: <why>"
  bool ok = false;
};

struct OptimizationResult {
  std::vector<StartResult> starts;
  int best = -1;  // index into starts; -1 when every start failed
};

// Latin-hypercube points in [lower, upper] (n points, one stratum per point and dimension).
std::vector<std::vector<double>> latin_hypercube(const std::vector<double>& lower, const std::vector<double>& upper,
                                                 int n, unsigned long seed);

// Minimises from one start: Fisher scoring when the problem has it, finished (where scoring stalls) or done
// by minimise_quasi_newton.
StartResult minimise(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options);
// LD_LBFGS, restarted where it gives up on a smooth problem, LN_BOBYQA where the gradient fails or at a kink.
StartResult minimise_quasi_newton(const Problem& problem, const std::vector<double>& start,
                                  const OptimizerOptions& options);

// Minimises from one start without derivatives (LN_BOBYQA), for objectives that have none (e.g. FOCE-I's).
StartResult minimise_derivative_free(const Problem& problem, const std::vector<double>& start,
                                     const OptimizerOptions& options);

// Minimises from `initial` and options.starts − 1 Latin-hypercube starts. For a piecewise problem, then scans
// across the kinks: each kink coordinate is held in turn in the middle of the two intervals between kink
// points on either side of the best optimum's, the others are re-optimised, and from there all of them; and
// the best optimum is polished with LN_BOBYQA. Keeps every start's result.
OptimizationResult multistart(const Problem& problem, const std::vector<double>& initial, const OptimizerOptions& options);

}  // namespace cartpk::fitting
