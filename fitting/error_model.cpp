#include "fitting/error_model.hpp"

#include <cmath>
#include <numbers>

#include "pkmodel/dual_n.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

namespace {
constexpr double kLog2Pi = 1.8378770664093454836;  // ln(2π)
constexpr double kTiny = 1e-300;                   // predictions are clamped here before taking logs

// Derivatives of a record's log-likelihood with respect to (prediction, a, b), in one pass.
using Dual3 = DualN<3>;

Dual3 log_phi(const Dual3& z) { return chain(z, log_normal_cdf(z.v), normal_pdf_over_cdf(z.v)); }

// The record's log-likelihood, written once over the scalar type; derivatives come from Dual3.
template <class T>
T loglik(ErrorType type, double y, const T& f_in, const T& a, const T& b, bool censored) {
  using std::log;
  using std::sqrt;
  const T f = f_in < T(kTiny) ? T(kTiny) : f_in;
  T residual(0.0), sd(1.0);
  switch (type) {
    case ErrorType::additive: residual = y - f; sd = a; break;
    case ErrorType::proportional: residual = y - f; sd = b * f; break;
    case ErrorType::combined: residual = y - f; sd = sqrt(a * a + b * b * f * f); break;
    case ErrorType::lognormal: residual = log(T(y)) - log(f); sd = a; break;
  }
  const T z = residual / sd;
  if (censored) return log_phi(z);  // M3: ln P(Y < LLOQ)
  return -0.5 * (kLog2Pi + z * z) - log(sd);
}
}  // namespace

namespace {
// Mills ratio R(x) = (1 − Φ(x))/φ(x) for large x, by its continued fraction 1/(x + 1/(x + 2/(x + 3/(x + …)))).
double mills_ratio(double x) {
  double tail = x;
  for (int k = 60; k >= 1; --k) tail = x + k / tail;
  return 1.0 / tail;
}
}  // namespace

// Below z = −30, erfc underflows towards its limit: Φ(z) = φ(z)·R(−z) in logs.
double log_normal_cdf(double z) {
  if (z > -30.0) return std::log(0.5 * std::erfc(-z / std::numbers::sqrt2));
  return -0.5 * z * z - 0.5 * kLog2Pi + std::log(mills_ratio(-z));
}

double normal_pdf_over_cdf(double z) {
  if (z > -30.0) return std::exp(-0.5 * z * z - 0.5 * kLog2Pi) / (0.5 * std::erfc(-z / std::numbers::sqrt2));
  return 1.0 / mills_ratio(-z);
}

std::vector<std::string> ErrorModel::parameter_names(const std::string& obs) const {
  switch (type) {
    case ErrorType::additive: return {"a_" + obs};
    case ErrorType::proportional: return {"b_" + obs};
    case ErrorType::combined: return {"a_" + obs, "b_" + obs};
    case ErrorType::lognormal: return {"sigma_" + obs};
  }
  return {};
}

std::vector<double> ErrorModel::parameter_values() const {
  switch (type) {
    case ErrorType::proportional: return {b};
    case ErrorType::combined: return {a, b};
    default: return {a};
  }
}

void ErrorModel::set_parameter_values(const double* values) {
  for (int k = 0; k < n_parameters(); ++k) set_parameter(k, values[k]);
}

void ErrorModel::set_parameter(int which, double value) {
  const bool is_b = type == ErrorType::proportional || (type == ErrorType::combined && which == 1);
  (is_b ? b : a) = value;
}

double ErrorModel::sd(double f) const {
  switch (type) {
    case ErrorType::additive: return a;
    case ErrorType::proportional: return b * f;
    case ErrorType::combined: return std::sqrt(a * a + b * b * f * f);
    case ErrorType::lognormal: return a;
  }
  return a;
}

ErrorType parse_error_type(const std::string& name) {
  if (name == "additive") return ErrorType::additive;
  if (name == "proportional") return ErrorType::proportional;
  if (name == "combined") return ErrorType::combined;
  if (name == "lognormal") return ErrorType::lognormal;
  throw InputError("error model '" + name + "': expected additive, proportional, combined or lognormal");
}

std::string error_type_name(ErrorType type) {
  switch (type) {
    case ErrorType::additive: return "additive";
    case ErrorType::proportional: return "proportional";
    case ErrorType::combined: return "combined";
    case ErrorType::lognormal: return "lognormal";
  }
  return "?";
}

RecordLikelihood record_likelihood(const ErrorModel& m, double y, double f, bool censored) {
  if (m.type == ErrorType::lognormal && !censored && f >= kTiny) {  // the common record, without the dual pass
    const double ratio = y / f;  // one logarithm instead of two, unless y/f leaves the doubles
    const double log_ratio = std::isfinite(ratio) && ratio > 0.0 ? std::log(ratio) : std::log(y) - std::log(f);
    const double z = log_ratio / m.a;
    return {-lognormal_minus_loglik(log_ratio, 1.0 / m.a, kHalfLog2Pi + std::log(m.a)), z / (m.a * f),
            {(z * z - 1.0) / m.a, 0.0}};
  }
  RecordLikelihood out;
  Dual3 fd(f), ad(m.a), bd(m.b);
  fd.d[0] = ad.d[1] = bd.d[2] = 1.0;
  const auto ll = loglik<Dual3>(m.type, y, fd, ad, bd, censored);
  const auto& d = ll.d;
  out.loglik = ll.v;
  out.d_prediction = d[0];
  // parameter_values() order: (a) | (b) | (a, b)
  out.d_parameters[0] = m.type == ErrorType::proportional ? d[2] : d[1];
  out.d_parameters[1] = m.type == ErrorType::combined ? d[2] : 0.0;
  return out;
}

Eigen::Matrix3d record_information(const ErrorModel& m, double f_in, double limit) {
  const double f = std::max(f_in, kTiny);
  const bool log_scale = m.type == ErrorType::lognormal;
  const double s = m.sd(f);
  // The Jacobian of (g, s) in (f, a, b): g = ln f or f is the residual scale's mean, s its SD.
  Eigen::Matrix<double, 2, 3> jacobian = Eigen::Matrix<double, 2, 3>::Zero();
  jacobian(0, 0) = log_scale ? 1.0 / f : 1.0;
  switch (m.type) {
    case ErrorType::additive:
    case ErrorType::lognormal: jacobian(1, 1) = 1.0; break;
    case ErrorType::proportional: jacobian(1, 0) = m.b; jacobian(1, 2) = f; break;
    case ErrorType::combined:
      jacobian(1, 0) = m.b * m.b * f / s;
      jacobian(1, 1) = m.a / s;
      jacobian(1, 2) = m.b * f * f / s;
      break;
  }
  // Information about (g, s) in units of 1/s²: N(g, s²) gives diag(1, 2); censoring below c = (L − g)/s replaces
  // the part below c by the score of the event Y < L (truncated moments of the standard normal).
  Eigen::Matrix2d info{{1.0, 0.0}, {0.0, 2.0}};
  if (std::isfinite(limit) && limit > 0.0) {
    const double c = ((log_scale ? std::log(limit) : limit) - (log_scale ? std::log(f) : f)) / s;
    const double phi = std::exp(-0.5 * c * c - 0.5 * kLog2Pi);
    const double upper = 0.5 * std::erfc(c / std::numbers::sqrt2);  // P(Y > L)
    const double phi2_over_cdf = phi * normal_pdf_over_cdf(c);       // φ²/Φ, stable in the lower tail
    info(0, 0) = phi2_over_cdf + upper + c * phi;
    info(0, 1) = info(1, 0) = c * phi2_over_cdf + (c * c + 1.0) * phi;
    info(1, 1) = c * c * phi2_over_cdf + 2.0 * upper + (c * c * c + c) * phi;
  }
  return jacobian.transpose() * (info / (s * s)) * jacobian;
}

double weighted_residual(const ErrorModel& m, double y, double f) {
  const double fc = std::max(f, kTiny);
  if (m.type == ErrorType::lognormal) return (std::log(y) - std::log(fc)) / m.a;
  return (y - fc) / m.sd(fc);
}

}  // namespace cartpk::fitting
