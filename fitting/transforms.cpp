#include "fitting/transforms.hpp"

#include <cmath>

namespace cartpk::fitting {

double to_unconstrained(Domain domain, double value) {
  switch (domain) {
    case Domain::positive: return std::log(value);
    case Domain::fraction: return std::log(value / (1.0 - value));
    case Domain::nonnegative:  // no log for a value that may be 0: estimated on its own scale, bounded below
    case Domain::real: return value;
  }
  return value;
}

double from_unconstrained(Domain domain, double z) {
  switch (domain) {
    case Domain::positive: return std::exp(z);
    case Domain::fraction: return 1.0 / (1.0 + std::exp(-z));
    case Domain::nonnegative:
    case Domain::real: return z;
  }
  return z;
}

double value_derivative(Domain domain, double z) {
  switch (domain) {
    case Domain::positive: return std::exp(z);
    case Domain::fraction: {
      const double s = 1.0 / (1.0 + std::exp(-z));
      return s * (1.0 - s);
    }
    case Domain::nonnegative:
    case Domain::real: return 1.0;
  }
  return 1.0;
}

}  // namespace cartpk::fitting
