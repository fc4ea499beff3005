// The dual numbers behind every Jacobian and sensitivity: derivatives of elementary functions by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "pkmodel/dual.hpp"

using cartpk::Dual;

TEST_CASE("Dual carries exact derivatives through arithmetic and elementary functions") {
  const Dual x(2.0, 1.0);
  const Dual f = x * x * 3.0 - x / 4.0 + 1.0;  // 3x² − x/4 + 1 → 6x − 1/4
  CHECK(f.v == doctest::Approx(12.0 - 0.5 + 1.0));
  CHECK(f.d == doctest::Approx(12.0 - 0.25));
  CHECK(exp(x).d == doctest::Approx(std::exp(2.0)));
  CHECK(log(x).d == doctest::Approx(0.5));
  CHECK(sqrt(x).d == doctest::Approx(0.5 / std::sqrt(2.0)));
  const Dual p = pow(x, Dual(3.0));  // d/dx x³ = 3x²
  CHECK(p.d == doctest::Approx(12.0));
  const Dual q = pow(Dual(2.0), Dual(3.0, 1.0));  // d/dy 2^y = 2^y ln 2
  CHECK(q.d == doctest::Approx(8.0 * std::log(2.0)));
  const Dual r = Dual(1.0) / x;  // −1/x²
  CHECK(r.d == doctest::Approx(-0.25));
}
