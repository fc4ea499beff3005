#pragma once
// Uncertainty of an optimum: from an information matrix (the expected information, or the observed one: the
// Hessian of the OFV by central differences of its exact gradient), standard errors by the delta method,
// correlations, identifiability flags; and profile-likelihood confidence intervals.
#include <Eigen/Dense>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "fitting/optimizer.hpp"

namespace cartpk::fitting {

// Which matrix stands for d²OFV/dz² at the optimum: its expectation (Gauss–Newton, from the sensitivities) or
// the observed Hessian (central differences of the gradient, 2·dim more gradient evaluations).
enum class Information { expected, observed };
std::string_view information_name(Information information);
Information parse_information(const std::string& name);  // throws InputError listing the choices

struct Uncertainty {
  Information information = Information::expected;
  Eigen::MatrixXd hessian;      // d²OFV/dz² at the optimum (expected or observed)
  Eigen::MatrixXd covariance;   // of z: 2·H⁻¹ (OFV = −2 log L, so the information is H/2)
  Eigen::MatrixXd correlation;  // of z
  std::vector<double> se;           // natural scale, delta method: |dθ/dz|·sqrt(C_zz)
  std::vector<double> rse_percent;  // 100·se/|θ|
  std::vector<bool> poorly_determined;  // RSE > 100 %, or in a (near-)null direction of H
  double condition_number = std::nan("");
  bool ok = false;
  std::string note;  // why not ok, or what was flagged
};

// The observed information: central differences of the exact gradient, inside [lower, upper] (one-sided at a bound).
Eigen::MatrixXd observed_hessian(const Problem& problem, const std::vector<double>& z);

// Covariance, SEs and flags from `hessian`. `natural` and `dnatural_dz` are the natural-scale values and the
// transforms' derivatives at z; an estimate on a bound of the problem's box is flagged.
Uncertainty uncertainty_from(Information information, const Eigen::MatrixXd& hessian, const Problem& problem,
                             const std::vector<double>& z, const std::vector<double>& natural,
                             const std::vector<double>& dnatural_dz);

struct ProfilePoint {
  double z = 0.0;
  double value = 0.0;  // natural scale
  double ofv = 0.0;
};

struct Profile {
  std::size_t index = 0;  // coordinate of z that was profiled
  double threshold = 3.841458820694124;  // ΔOFV that bounds the 95 % interval (see profile_threshold)
  std::vector<ProfilePoint> points;  // sorted by z
  double lower = std::nan(""), upper = std::nan("");  // 95 % CI, natural scale (NaN: not reached in the box)
  std::string note;
};

inline constexpr double kChiSquare95 = 3.841458820694124;  // 1 degree of freedom

// How the ΔOFV of a 95 % profile interval is calibrated.
//   chi_square: the asymptotic χ²₁ quantile, 3.84.
//   f_small_sample: the likelihood-ratio interval of a normal (non)linear regression whose residual SD is estimated
//     (Bates & Watts 1988, §6.1): ΔOFV = n·ln(1 + F₁,ν(0.95)/ν), ν = n − p records less estimates; it widens the
//     interval for the downward bias of the ML residual SD on few records (n = 12, p = 7: 10.1 instead of 3.84).
enum class CiCalibration { chi_square, f_small_sample };
double profile_threshold(CiCalibration calibration, std::size_t n_records, std::size_t n_estimated);
std::string_view calibration_name(CiCalibration calibration);

// Profiles coordinate k: fixes it on a grid either side of the optimum, re-optimises the others, and finds
// where ΔOFV = 3.84. `to_natural` maps z_k to the natural scale.
Profile profile_likelihood(const Problem& problem, const std::vector<double>& z_opt, double ofv_opt, std::size_t k,
                           double se_z, const std::function<double(double)>& to_natural, const OptimizerOptions& options,
                           double threshold = kChiSquare95);

}  // namespace cartpk::fitting
