// The dual numbers behind every Jacobian and sensitivity: derivatives of elementary functions by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "pkmodel/dual.hpp"
#include "pkmodel/dual_n.hpp"

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

TEST_CASE("DualN carries the whole gradient of a function of several variables in one pass") {
  using D3 = cartpk::DualN<3>;
  D3 x(2.0), y(0.5), z(3.0);
  x.d[0] = y.d[1] = z.d[2] = 1.0;
  // f = x·exp(−y·z)/sqrt(z) + log(x)·pow(z, y) − 1/x; gradient by hand:
  const D3 f = x * exp(-y * z) / sqrt(z) + log(x) * pow(z, y) - 1.0 / x;
  const double e = std::exp(-1.5), zy = std::pow(3.0, 0.5);
  CHECK(f.v == doctest::Approx(2.0 * e / std::sqrt(3.0) + std::log(2.0) * zy - 0.5).epsilon(1e-14));
  CHECK(f.d[0] == doctest::Approx(e / std::sqrt(3.0) + zy / 2.0 + 0.25).epsilon(1e-14));
  CHECK(f.d[1] == doctest::Approx(-2.0 * 3.0 * e / std::sqrt(3.0) + std::log(2.0) * zy * std::log(3.0)).epsilon(1e-14));
  CHECK(f.d[2] == doctest::Approx(2.0 * e * (-0.5 / std::sqrt(3.0) - 0.5 * std::pow(3.0, -1.5)) +
                                  std::log(2.0) * 0.5 * std::pow(3.0, -0.5)).epsilon(1e-14));
  // Each direction agrees with the one-direction Dual.
  const Dual xd(2.0), yd(0.5, 1.0), zd(3.0);
  const Dual g = xd * exp(-yd * zd) / sqrt(zd) + log(xd) * pow(zd, yd) - Dual(1.0) / xd;
  CHECK(g.d == doctest::Approx(f.d[1]).epsilon(1e-15));
}
