// Fitting transforms: round trips and chain-rule derivatives against central differences.
#include <doctest/doctest.h>

#include <cmath>

#include "fitting/transforms.hpp"

using namespace cartpk;

TEST_CASE("log and logit transforms round-trip and their derivatives equal central differences") {
  const struct {
    Domain domain;
    double value;
  } cases[] = {{Domain::positive, 3900.0}, {Domain::positive, 0.0032}, {Domain::fraction, 0.0079},
               {Domain::fraction, 0.6},     {Domain::real, -2.5},        {Domain::nonnegative, 0.0}};
  for (const auto& c : cases) {
    const double z = fitting::to_unconstrained(c.domain, c.value);
    CHECK(fitting::from_unconstrained(c.domain, z) == doctest::Approx(c.value).epsilon(1e-14));
    const double h = 1e-6;
    const double fd = (fitting::from_unconstrained(c.domain, z + h) - fitting::from_unconstrained(c.domain, z - h)) / (2 * h);
    CHECK(fitting::value_derivative(c.domain, z) == doctest::Approx(fd).epsilon(1e-7));
  }
  CHECK(fitting::to_unconstrained(Domain::fraction, 0.5) == doctest::Approx(0.0));
  CHECK(fitting::to_unconstrained(Domain::positive, std::exp(2.0)) == doctest::Approx(2.0));
}
