#pragma once
// How the design searches compare expected sizes and powers: values within a relative 1e-12 of each other are
// ties (rounding differs between summation orders by ~1e-15), broken by the documented order of the search.
#include <algorithm>
#include <cmath>

namespace cartpk::trial {

inline constexpr double kTieTolerance = 1e-12;

// a < b by more than the tie tolerance.
inline bool clearly_less(double a, double b) {
  return a < b - kTieTolerance * std::max(std::abs(a), std::abs(b));
}

}  // namespace cartpk::trial
