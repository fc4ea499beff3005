// Fitting transforms: round trips and chain-rule derivatives against central differences.
#include <doctest/doctest.h>

#include <cmath>

#include "fitting/transforms.hpp"

using namespace cartpk;
using fitting::Transform;

TEST_CASE("log and logit transforms round-trip and their derivatives equal central differences") {
  const struct {
    Transform t;
    double value;
  } cases[] = {{Transform::log, 3900.0}, {Transform::log, 0.0032}, {Transform::logit, 0.0079},
               {Transform::logit, 0.6},  {Transform::identity, -2.5}};
  for (const auto& c : cases) {
    const double z = fitting::to_unconstrained(c.t, c.value);
    CHECK(fitting::from_unconstrained(c.t, z) == doctest::Approx(c.value).epsilon(1e-14));
    const double h = 1e-6;
    const double fd = (fitting::from_unconstrained(c.t, z + h) - fitting::from_unconstrained(c.t, z - h)) / (2 * h);
    CHECK(fitting::value_derivative(c.t, z) == doctest::Approx(fd).epsilon(1e-7));
  }
  CHECK(fitting::to_unconstrained(Transform::logit, 0.5) == doctest::Approx(0.0));
  CHECK(fitting::transform_for(Domain::positive, 1.0) == Transform::log);
  CHECK(fitting::transform_for(Domain::fraction, 0.1) == Transform::logit);
  CHECK(fitting::transform_for(Domain::nonnegative, 0.0) == Transform::identity);
  CHECK(fitting::transform_for(Domain::nonnegative, 1e-3) == Transform::log);
}
