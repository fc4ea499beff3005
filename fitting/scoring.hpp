#pragma once
// Fisher scoring with a Levenberg–Marquardt safeguard, for objectives that supply their expected information:
// each step solves (H + λ·diag H) δ = −g on the coordinates not held at a bound, so a nonlinear regression of
// a few parameters converges in tens of evaluations where a quasi-Newton method needs a hundred.
#include "fitting/optimizer.hpp"

namespace cartpk::fitting {

// Minimises problem.f from `start` by scoring steps (problem.scoring must be set). ok = false when no step
// could be taken (the start infeasible, the information unusable); status "ok: converged" at a stationary
// point, "ok: stalled" when λ grew without progress (a kink, or round-off in the OFV).
StartResult minimise_scoring(const Problem& problem, const std::vector<double>& start, const OptimizerOptions& options);

}  // namespace cartpk::fitting
