#pragma once
// Parameter transforms: estimates live on an unconstrained scale chosen by the parameter's domain
// (log for positive values, logit for fractions in (0, 1), identity otherwise), so the optimiser never leaves
// the domain and gradients carry over by the chain rule.
#include <string_view>

#include "pkmodel/specs.hpp"

namespace cartpk::fitting {

enum class Transform { identity, log, logit };

// log for positive values (and for non-negative ones whose lower bound is > 0), logit for fractions.
Transform transform_for(Domain domain, double lower_bound);
std::string_view transform_name(Transform t);

double to_unconstrained(Transform t, double value);  // value → z
double from_unconstrained(Transform t, double z);    // z → value
double value_derivative(Transform t, double z);      // d value / d z, for the chain rule

}  // namespace cartpk::fitting
