#pragma once
// Multi-start bounded minimisation with NLopt: gradient-based (LD_LBFGS, exact gradients) from each start,
// with a derivative-free fallback (LN_BOBYQA) for a start whose gradient evaluation fails.
// Starts: the given initial point, then feasible Latin-hypercube points in the (transformed) box, reproducible
// by seed.
#include <functional>
#include <string>
#include <vector>

namespace cartpk::fitting {

// f(z, gradient or nullptr) -> value; may throw (a failed solve): the optimiser then treats z as infeasible.
using ObjectiveFunction = std::function<double(const std::vector<double>&, std::vector<double>*)>;

// What is minimised: f over the box [lower, upper], subject to constraints c(z) <= 0 (with gradients).
// Without constraints: LD_LBFGS, falling back to LN_BOBYQA; with them: LD_SLSQP, falling back to LN_COBYLA.
struct Problem {
  ObjectiveFunction f;
  std::vector<double> lower, upper;
  std::vector<ObjectiveFunction> constraints;
  [[nodiscard]] bool feasible(const std::vector<double>& z) const;  // constraints hold and f is finite there
};

struct OptimizerOptions {
  int starts = 10;
  unsigned long seed = 1;
  double xtol_rel = 1e-8;
  double ftol_abs = 1e-9;       // on the OFV
  int max_evaluations = 4000;   // per start; 0: evaluate the OFV at the initial values only
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

// Minimises from one start.
StartResult minimise(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options);

// Minimises from `initial` and options.starts − 1 feasible Latin-hypercube starts; keeps every start's result.
OptimizationResult multistart(const Problem& problem, const std::vector<double>& initial, const OptimizerOptions& options);

}  // namespace cartpk::fitting
