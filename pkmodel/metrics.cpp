#include "pkmodel/metrics.hpp"

#include <algorithm>
#include <stdexcept>

namespace cartpk::metrics {

namespace {
void require_same_size(std::span<const double> t, std::span<const double> v) {
  if (t.size() != v.size() || t.empty())
    throw std::invalid_argument("metrics: time and value must be non-empty and of equal length");
}

// Linear crossing of `threshold` between samples k-1 and k.
double crossing(std::span<const double> t, std::span<const double> v, std::size_t k, double threshold) {
  const double dv = v[k] - v[k - 1];
  if (dv == 0.0) return t[k];
  return t[k - 1] + (threshold - v[k - 1]) * (t[k] - t[k - 1]) / dv;
}

template <class Past>
std::optional<double> first_time(std::span<const double> t, std::span<const double> v, double threshold,
                                 double t_from, Past past) {
  require_same_size(t, v);
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (t[k] < t_from || !past(v[k], threshold)) continue;
    if (k == 0 || t[k - 1] < t_from || past(v[k - 1], threshold)) return t[k];
    return std::max(t_from, crossing(t, v, k, threshold));
  }
  return std::nullopt;
}
}  // namespace

Peak peak(std::span<const double> t, std::span<const double> v) {
  require_same_size(t, v);
  const auto it = std::max_element(v.begin(), v.end());
  const auto k = static_cast<std::size_t>(it - v.begin());
  return {*it, t[k]};
}

double value_at(std::span<const double> t, std::span<const double> v, double at) {
  require_same_size(t, v);
  if (at <= t.front()) return v.front();
  if (at >= t.back()) return v.back();
  const auto k = static_cast<std::size_t>(std::upper_bound(t.begin(), t.end(), at) - t.begin());
  const double w = (at - t[k - 1]) / (t[k] - t[k - 1]);
  return v[k - 1] + w * (v[k] - v[k - 1]);
}

double auc(std::span<const double> t, std::span<const double> v, double t_from, double t_to) {
  require_same_size(t, v);
  double area = 0.0;
  double t_prev = std::max(t_from, t.front());
  double v_prev = value_at(t, v, t_prev);
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (t[k] <= t_prev) continue;
    const double t_next = std::min(t[k], t_to);
    const double v_next = value_at(t, v, t_next);
    area += 0.5 * (v_prev + v_next) * (t_next - t_prev);
    t_prev = t_next;
    v_prev = v_next;
    if (t_next >= t_to) break;
  }
  return area;
}

std::optional<double> first_time_below(std::span<const double> t, std::span<const double> v, double threshold,
                                       double t_from) {
  return first_time(t, v, threshold, t_from, [](double a, double b) { return a < b; });
}

std::optional<double> first_time_at_or_above(std::span<const double> t, std::span<const double> v,
                                             double threshold, double t_from) {
  return first_time(t, v, threshold, t_from, [](double a, double b) { return a >= b; });
}

}  // namespace cartpk::metrics
