#pragma once
// Parameter transforms: estimates live on an unconstrained scale chosen by the parameter's domain
// (log for positive values, logit for fractions in (0, 1), identity otherwise), so the optimiser never leaves
// the domain and gradients carry over by the chain rule.
#include "pkmodel/specs.hpp"

namespace cartpk::fitting {

double to_unconstrained(Domain domain, double value);     // value → z
double from_unconstrained(Domain domain, double z);       // z → value
double value_derivative(Domain domain, double z);         // d value / d z, for the chain rule

}  // namespace cartpk::fitting
