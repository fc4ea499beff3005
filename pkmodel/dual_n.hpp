#pragma once
// Forward-mode dual number with N tangent directions: one pass through a model's templated equations gives
// the derivatives with respect to N parameters at once (closed-form sensitivities, observable sensitivities,
// likelihood derivatives). Same arithmetic as Dual (pkmodel/dual.hpp), each tangent rule applied per direction.
#include <array>
#include <cmath>
#include <cstddef>

namespace cartpk {

template <std::size_t N>
struct DualN {
  double v = 0.0;               // value
  std::array<double, N> d{};    // tangents, one per direction

  constexpr DualN() = default;
  constexpr DualN(double value) : v(value) {}  // NOLINT: constants promote implicitly, as in any AD type

  constexpr DualN& operator+=(const DualN& o) {
    v += o.v;
    for (std::size_t i = 0; i < N; ++i) d[i] += o.d[i];
    return *this;
  }
  constexpr DualN& operator-=(const DualN& o) {
    v -= o.v;
    for (std::size_t i = 0; i < N; ++i) d[i] -= o.d[i];
    return *this;
  }
  constexpr DualN& operator*=(const DualN& o) {
    for (std::size_t i = 0; i < N; ++i) d[i] = d[i] * o.v + v * o.d[i];
    v *= o.v;
    return *this;
  }
  constexpr DualN& operator/=(const DualN& o) {
    const double inv = 1.0 / o.v;
    v *= inv;
    for (std::size_t i = 0; i < N; ++i) d[i] = (d[i] - v * o.d[i]) * inv;
    return *this;
  }

  // Hidden friends: found by argument-dependent lookup, so doubles convert implicitly on either side.
  friend constexpr DualN operator-(DualN a) {
    a.v = -a.v;
    for (auto& t : a.d) t = -t;
    return a;
  }
  friend constexpr DualN operator+(DualN a, const DualN& b) { return a += b; }
  friend constexpr DualN operator-(DualN a, const DualN& b) { return a -= b; }
  friend constexpr DualN operator*(DualN a, const DualN& b) { return a *= b; }
  friend constexpr DualN operator/(DualN a, const DualN& b) { return a /= b; }
  friend constexpr bool operator<(const DualN& a, const DualN& b) { return a.v < b.v; }
  friend constexpr bool operator>(const DualN& a, const DualN& b) { return a.v > b.v; }
  friend constexpr bool operator<=(const DualN& a, const DualN& b) { return a.v <= b.v; }
  friend constexpr bool operator>=(const DualN& a, const DualN& b) { return a.v >= b.v; }

  // f(a) with f'(a) given: the chain rule for every direction.
  friend constexpr DualN chain(const DualN& a, double value, double derivative) {
    DualN out(value);
    for (std::size_t i = 0; i < N; ++i) out.d[i] = derivative * a.d[i];
    return out;
  }
  friend DualN exp(const DualN& a) { const double e = std::exp(a.v); return chain(a, e, e); }
  friend DualN log(const DualN& a) { return chain(a, std::log(a.v), 1.0 / a.v); }
  friend DualN sqrt(const DualN& a) { const double s = std::sqrt(a.v); return chain(a, s, 0.5 / s); }
  friend DualN pow(const DualN& a, const DualN& b) {  // a > 0 wherever b varies
    const double r = std::pow(a.v, b.v);
    DualN out = chain(a, r, b.v * std::pow(a.v, b.v - 1.0));
    bool b_varies = false;
    for (double t : b.d) b_varies = b_varies || t != 0.0;
    if (b_varies) {
      const double dr_db = r * std::log(a.v);
      for (std::size_t i = 0; i < N; ++i) out.d[i] += dr_db * b.d[i];
    }
    return out;
  }
  friend constexpr double value_of(const DualN& x) { return x.v; }
};

}  // namespace cartpk
