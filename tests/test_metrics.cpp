// Summary metrics against hand-computed values on simple curves.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "pkmodel/metrics.hpp"

using namespace cartpk::metrics;

TEST_CASE("peak, value_at and the trapezoidal AUC of a sampled line and tent") {
  const std::vector<double> t{0, 1, 2, 3, 4};
  const std::vector<double> tent{0, 2, 4, 2, 0};
  const auto pk = peak(t, tent);
  CHECK(pk.value == 4.0);
  CHECK(pk.time_day == 2.0);
  CHECK(auc(t, tent, 0, 4) == doctest::Approx(8.0));
  CHECK(auc(t, tent, 1, 2.5) == doctest::Approx(0.5 * (2 + 4) + 0.5 * (4 + 3) * 0.5));
  CHECK(value_at(t, tent, 2.5) == doctest::Approx(3.0));
}

TEST_CASE("threshold crossing times interpolate linearly and respect the start time") {
  const std::vector<double> t{0, 10, 20, 30, 40};
  const std::vector<double> b{150, 30, 0.5, 0.2, 20};
  CHECK(first_time_below(t, b, 1.0).value() == doctest::Approx(10 + 10 * (29.0 / 29.5)));
  CHECK(first_time_at_or_above(t, b, 10.0, 25.0).value() == doctest::Approx(30 + 10 * (9.8 / 19.8)));
  CHECK_FALSE(first_time_below(t, b, 0.1).has_value());
}
