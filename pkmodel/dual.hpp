#pragma once
// Forward-mode dual number with one tangent direction. Models state their equations once, as templates;
// the engine evaluates them on Dual to get Jacobian columns, sensitivity right-hand sides (J·s + ∂f/∂p)
// and event/observable derivatives exactly, without finite differences or hand-written derivatives.
#include <cmath>

namespace cartpk {

struct Dual {
  double v = 0.0;  // value
  double d = 0.0;  // tangent (directional derivative)

  constexpr Dual() = default;
  constexpr Dual(double value) : v(value) {}  // NOLINT: constants promote implicitly, as in any AD type
  constexpr Dual(double value, double tangent) : v(value), d(tangent) {}

  constexpr Dual& operator+=(const Dual& o) { v += o.v; d += o.d; return *this; }
  constexpr Dual& operator-=(const Dual& o) { v -= o.v; d -= o.d; return *this; }
  constexpr Dual& operator*=(const Dual& o) { d = d * o.v + v * o.d; v *= o.v; return *this; }
  constexpr Dual& operator/=(const Dual& o) { d = (d * o.v - v * o.d) / (o.v * o.v); v /= o.v; return *this; }
};

constexpr Dual operator-(const Dual& a) { return {-a.v, -a.d}; }
constexpr Dual operator+(Dual a, const Dual& b) { return a += b; }
constexpr Dual operator-(Dual a, const Dual& b) { return a -= b; }
constexpr Dual operator*(Dual a, const Dual& b) { return a *= b; }
constexpr Dual operator/(Dual a, const Dual& b) { return a /= b; }
constexpr bool operator<(const Dual& a, const Dual& b) { return a.v < b.v; }
constexpr bool operator>(const Dual& a, const Dual& b) { return a.v > b.v; }
constexpr bool operator<=(const Dual& a, const Dual& b) { return a.v <= b.v; }
constexpr bool operator>=(const Dual& a, const Dual& b) { return a.v >= b.v; }

inline Dual exp(const Dual& a) { const double e = std::exp(a.v); return {e, e * a.d}; }
inline Dual log(const Dual& a) { return {std::log(a.v), a.d / a.v}; }
inline Dual sqrt(const Dual& a) { const double s = std::sqrt(a.v); return {s, a.d / (2.0 * s)}; }
inline Dual pow(const Dual& a, const Dual& b) {  // a > 0 wherever b varies
  const double r = std::pow(a.v, b.v);
  const double db = b.d != 0.0 ? r * std::log(a.v) * b.d : 0.0;
  return {r, b.v * std::pow(a.v, b.v - 1.0) * a.d + db};
}

// Value of a double or a Dual, for code templated on the scalar type.
constexpr double value_of(double x) { return x; }
constexpr double value_of(const Dual& x) { return x.v; }

}  // namespace cartpk
