#pragma once
// Residual error models and the likelihood of one observation, including left-censored records by M3.
// OFV = −2·log-likelihood with the 2π terms, so it compares with NONMEM, nlmixr2 and scipy numbers.
// `lognormal` is additive on the log scale: its likelihood is that of ln(DV) (as NONMEM's log-transform-both-
// sides), without the −ln(DV) Jacobian term.
#include <Eigen/Dense>
#include <string>
#include <vector>

namespace cartpk::fitting {

enum class ErrorType { additive, proportional, combined, lognormal };

struct ErrorModel {
  ErrorType type = ErrorType::lognormal;
  double a = 0.5;         // additive SD (additive, combined) or log-scale SD s (lognormal)
  double b = 0.0;         // proportional SD (proportional, combined)
  bool estimated = true;  // false: a and b fixed

  [[nodiscard]] int n_parameters() const { return type == ErrorType::combined ? 2 : 1; }
  // Names of the parameters for observable `obs`: sigma_<obs>, a_<obs>, b_<obs>.
  [[nodiscard]] std::vector<std::string> parameter_names(const std::string& obs) const;
  [[nodiscard]] std::vector<double> parameter_values() const;
  void set_parameter_values(const double* values);
  void set_parameter(int which, double value);  // entry `which` of parameter_values()
  [[nodiscard]] double sd(double prediction) const;  // residual SD on the model's scale (log scale for lognormal)
};

ErrorType parse_error_type(const std::string& name);  // throws InputError listing the types
std::string error_type_name(ErrorType type);

// Log-likelihood of one record and its derivatives w.r.t. the prediction f and the error parameters
// (in the order of parameter_values()). For a censored record, y is the quantification limit.
struct RecordLikelihood {
  double loglik = 0.0;
  double d_prediction = 0.0;
  double d_parameters[2] = {0.0, 0.0};
};
RecordLikelihood record_likelihood(const ErrorModel& model, double y, double f, bool censored);

// −ln p of a quantified log-normal record from ln(y/f), 1/σ and ½ln 2π + ln σ: the one formula, for callers that
// evaluate many predictions of the same record and keep the logarithms they can.
inline double lognormal_minus_loglik(double log_ratio, double inverse_sd, double constant) {
  const double z = log_ratio * inverse_sd;
  return 0.5 * z * z + constant;
}
inline constexpr double kHalfLog2Pi = 0.91893853320467274178;  // ½ ln(2π)

// Fisher information of one record about (f, a, b), the prediction and the error parameters a, b (the ErrorModel's
// fields; rows of an unused parameter are zero). Gaussian on the residual's scale; when `limit` is a number (the
// record's LLOQ, censored or not), a normal censored below it (Tobit): the expectation of the M3 score's outer
// product, so a quantified record and a BLQ record of the same design carry the same information.
Eigen::Matrix3d record_information(const ErrorModel& model, double f, double limit);

// Weighted residual (y − f)/SD (on the log scale for lognormal), as IWRES.
double weighted_residual(const ErrorModel& model, double y, double f);

// ln Φ(z) and φ(z)/Φ(z), accurate far into the lower tail.
double log_normal_cdf(double z);
double normal_pdf_over_cdf(double z);

}  // namespace cartpk::fitting
