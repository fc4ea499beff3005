#include "pkmodel/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cartpk::metrics {

namespace {
void require_same_size(std::span<const double> t, std::span<const double> v) {
  if (t.size() != v.size() || t.empty())
    throw std::invalid_argument("metrics: time and value must be non-empty and of equal length");
}

// The cubic Hermite interpolant on [t[k-1], t[k]] from the values and derivatives at both ends.
struct Hermite {
  double t0, h, y0, y1, d0, d1;  // d: derivatives scaled by h (dy/ds, s in [0, 1])
  Hermite(std::span<const double> t, std::span<const double> v, std::span<const double> r, std::size_t k)
      : t0(t[k - 1]), h(t[k] - t[k - 1]), y0(v[k - 1]), y1(v[k]), d0(r[k - 1] * h), d1(r[k] * h) {}
  [[nodiscard]] double at(double s) const {
    const double s2 = s * s, s3 = s2 * s;
    return (2 * s3 - 3 * s2 + 1) * y0 + (s3 - 2 * s2 + s) * d0 + (-2 * s3 + 3 * s2) * y1 + (s3 - s2) * d1;
  }
  [[nodiscard]] double slope(double s) const {  // dp/ds
    const double s2 = s * s;
    return (6 * s2 - 6 * s) * y0 + (3 * s2 - 4 * s + 1) * d0 + (-6 * s2 + 6 * s) * y1 + (3 * s2 - 2 * s) * d1;
  }
};

bool known(std::span<const double> r, std::size_t k) {
  return r.size() > k && k > 0 && std::isfinite(r[k]) && std::isfinite(r[k - 1]);
}

// Where g(s) changes sign on [0, 1] (g(0), g(1) of opposite signs): bisection to machine precision.
template <class G>
double root(G g, double lo, double hi) {
  double g_lo = g(lo);
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    const double g_mid = g(mid);
    if ((g_mid < 0) == (g_lo < 0)) {
      lo = mid;
      g_lo = g_mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

// The crossing of `threshold` between samples k-1 and k: on the Hermite interpolant when the derivatives are
// known (and it crosses there), else linear.
double crossing(std::span<const double> t, std::span<const double> v, std::span<const double> r, std::size_t k,
                double threshold) {
  if (known(r, k)) {
    const Hermite p(t, v, r, k);
    const auto g = [&](double s) { return p.at(s) - threshold; };
    if ((g(0.0) < 0) != (g(1.0) < 0)) return p.t0 + p.h * root(g, 0.0, 1.0);
  }
  const double dv = v[k] - v[k - 1];
  if (dv == 0.0) return t[k];
  return t[k - 1] + (threshold - v[k - 1]) * (t[k] - t[k - 1]) / dv;
}

// The index std::max_element gives (the first of the largest, by `<`; the first element when it is NaN), with four
// running maxima so that each comparison does not wait for the previous one (a population run takes a peak of
// every CAR-T curve of every patient).
std::size_t argmax(std::span<const double> v) {
  double m[4] = {v[0], v[0], v[0], v[0]};
  std::size_t k = 1;
  for (; k + 4 <= v.size(); k += 4)
    for (std::size_t j = 0; j < 4; ++j) m[j] = m[j] < v[k + j] ? v[k + j] : m[j];
  for (; k < v.size(); ++k) m[0] = m[0] < v[k] ? v[k] : m[0];
  double best = m[0];
  for (std::size_t j = 1; j < 4; ++j) best = best < m[j] ? m[j] : best;
  if (!(best == best)) return 0;  // v[0] is NaN: nothing compares larger
  return static_cast<std::size_t>(std::find(v.begin(), v.end(), best) - v.begin());
}

template <class Past>
std::optional<double> first_time(std::span<const double> t, std::span<const double> v, std::span<const double> r,
                                 double threshold, double t_from, Past past) {
  require_same_size(t, v);
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (t[k] < t_from || !past(v[k], threshold)) continue;
    if (k == 0 || t[k - 1] < t_from || past(v[k - 1], threshold)) return t[k];
    return std::max(t_from, crossing(t, v, r, k, threshold));
  }
  return std::nullopt;
}
}  // namespace


Peak peak(std::span<const double> t, std::span<const double> v) {
  require_same_size(t, v);
  const std::size_t k = argmax(v);
  return {v[k], t[k]};
}

Peak peak(std::span<const double> t, std::span<const double> v, std::span<const double> r) {
  require_same_size(t, v);
  const std::size_t k = argmax(v);
  Peak best{v[k], t[k]};
  for (const std::size_t right : {k, k + 1}) {  // the intervals either side of the sampled maximum
    if (right == 0 || right >= t.size() || !known(r, right)) continue;
    const Hermite p(t, v, r, right);
    if (!(p.slope(0.0) > 0.0 && p.slope(1.0) < 0.0)) continue;  // no interior maximum here
    const double s = root([&](double x) { return -p.slope(x); }, 0.0, 1.0);
    if (const double value = p.at(s); value > best.value) best = {value, p.t0 + p.h * s};
  }
  return best;
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
    // value_at(t, v, t_next) without its search where t_next is the sample t[k] (and no later sample shares it):
    // the same expression with weight 0, so the same number.
    const bool sample = t_next == t[k] && (k + 1 == t.size() || t[k + 1] > t[k]);
    const double v_next = !sample ? value_at(t, v, t_next) : k + 1 == t.size() ? v[k] : v[k] + 0.0 * (v[k + 1] - v[k]);
    area += 0.5 * (v_prev + v_next) * (t_next - t_prev);
    t_prev = t_next;
    v_prev = v_next;
    if (t_next >= t_to) break;
  }
  return area;
}

std::optional<double> first_time_below(std::span<const double> t, std::span<const double> v, double threshold,
                                       double t_from, std::span<const double> r) {
  return first_time(t, v, r, threshold, t_from, [](double a, double b) { return a < b; });
}

std::optional<double> first_time_at_or_above(std::span<const double> t, std::span<const double> v,
                                             double threshold, double t_from, std::span<const double> r) {
  return first_time(t, v, r, threshold, t_from, [](double a, double b) { return a >= b; });
}

}  // namespace cartpk::metrics
