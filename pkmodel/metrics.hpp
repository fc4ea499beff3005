#pragma once
// Summary metrics of a simulated or observed curve, in one place for every model, the CLI and later
// virtual-population work. Curves are sampled: (time_day[k], value[k]) with non-decreasing times.
#include <optional>
#include <span>

namespace cartpk::metrics {

struct Peak {
  double value = 0.0;     // Cmax
  double time_day = 0.0;  // Tmax: first time the maximum is reached
};

Peak peak(std::span<const double> time_day, std::span<const double> value);

// The same, refined between samples where the time derivative `rate` is known (the solver's dy/dt at each
// sample; empty or NaN: not known): a smooth maximum between two samples is located on the cubic Hermite
// interpolant of the values and derivatives (error O(h⁴) instead of O(h) on the grid).
Peak peak(std::span<const double> time_day, std::span<const double> value, std::span<const double> rate);

// Linear-trapezoidal area under the sampled curve between t_from and t_to (interpolating linearly at the ends).
double auc(std::span<const double> time_day, std::span<const double> value, double t_from, double t_to);

// Linear interpolation of the sampled curve at t (clamped to the sampled range).
double value_at(std::span<const double> time_day, std::span<const double> value, double t);

// First time at or after t_from at which the curve crosses below (or above) the threshold, by linear
// interpolation between samples; empty when it never does within the sampled range.
// With `rate` (dy/dt at the samples, as above) the crossing is located on the cubic Hermite interpolant.
std::optional<double> first_time_below(std::span<const double> time_day, std::span<const double> value,
                                       double threshold, double t_from = 0.0, std::span<const double> rate = {});
std::optional<double> first_time_at_or_above(std::span<const double> time_day, std::span<const double> value,
                                             double threshold, double t_from = 0.0,
                                             std::span<const double> rate = {});

}  // namespace cartpk::metrics
