#include "fitting/transforms.hpp"

#include <cmath>

namespace cartpk::fitting {

Transform transform_for(Domain domain, double lower_bound) {
  switch (domain) {
    case Domain::positive: return Transform::log;
    case Domain::fraction: return Transform::logit;
    case Domain::nonnegative: return lower_bound > 0.0 ? Transform::log : Transform::identity;
    case Domain::real: return Transform::identity;
  }
  return Transform::identity;
}

std::string_view transform_name(Transform t) {
  switch (t) {
    case Transform::log: return "log";
    case Transform::logit: return "logit";
    case Transform::identity: return "identity";
  }
  return "identity";
}

double to_unconstrained(Transform t, double value) {
  switch (t) {
    case Transform::log: return std::log(value);
    case Transform::logit: return std::log(value / (1.0 - value));
    case Transform::identity: return value;
  }
  return value;
}

double from_unconstrained(Transform t, double z) {
  switch (t) {
    case Transform::log: return std::exp(z);
    case Transform::logit: return 1.0 / (1.0 + std::exp(-z));
    case Transform::identity: return z;
  }
  return z;
}

double value_derivative(Transform t, double z) {
  switch (t) {
    case Transform::log: return std::exp(z);
    case Transform::logit: {
      const double s = 1.0 / (1.0 + std::exp(-z));
      return s * (1.0 - s);
    }
    case Transform::identity: return 1.0;
  }
  return 1.0;
}

}  // namespace cartpk::fitting
