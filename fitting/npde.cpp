// pd and npde of one subject from its simulated replicates (the npde R package's computepd.cdf and calcnpde with
// its defaults: ties clamped to 1/(2K), Cholesky decorrelation), and Φ⁻¹.
#include "fitting/npde.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "pkmodel/population.hpp"

namespace cartpk::fitting {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Fraction of `values` strictly below `limit` (the npde package counts ties as not below).
double fraction_below(const Eigen::VectorXd& values, double limit) {
  return static_cast<double>((values.array() < limit).count()) / static_cast<double>(values.size());
}
}  // namespace

double normal_quantile(double p) {
  if (std::isnan(p)) return kNaN;
  if (p <= 0.0) return -std::numeric_limits<double>::infinity();
  if (p >= 1.0) return std::numeric_limits<double>::infinity();
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01,  -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  const auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
  };
  double x;
  if (p < p_low) {
    x = tail(std::sqrt(-2.0 * std::log(p)));
  } else if (p > 1.0 - p_low) {
    x = -tail(std::sqrt(-2.0 * std::log1p(-p)));
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
  }
  // Acklam's rational approximation is good to 1e-9; one Halley step on erfc brings it to double precision.
  const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
  const double u = e * std::sqrt(2.0 * std::numbers::pi) * std::exp(0.5 * x * x);
  return x - u / (1.0 + 0.5 * x * u);
}

SubjectDiscrepancies discrepancies_from_simulations(const Eigen::VectorXd& observed, const std::vector<char>& censored,
                                                    const Eigen::VectorXd& lloq, Eigen::MatrixXd simulated,
                                                    PatientRng& imputation) {
  const Eigen::Index n = observed.size(), n_sim = simulated.rows();
  SubjectDiscrepancies out;
  out.pd.assign(static_cast<std::size_t>(n), kNaN);
  out.npde = out.pd;
  out.decorrelated = false;
  if (n_sim < 2) return out;
  const double k = static_cast<double>(n_sim);
  // The npde package's handling of ties at the ends (ties = TRUE): 0 and 1 would map to ∓∞.
  const auto clamp = [k](double p) { return p <= 0.0 ? 0.5 / k : p >= 1.0 ? 1.0 - 0.5 / k : p; };
  // The raw simulations, sorted per record: the quantiles an imputed value is read from.
  Eigen::MatrixXd sorted = simulated;
  for (Eigen::Index j = 0; j < n; ++j) std::sort(sorted.col(j).begin(), sorted.col(j).end());
  const auto quantile = [&](Eigen::Index j, double p) {
    return sorted(std::min<Eigen::Index>(static_cast<Eigen::Index>(std::floor(p * k)), n_sim - 1), j);
  };

  Eigen::VectorXd y = observed, p_lloq = Eigen::VectorXd::Zero(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    if (!std::isnan(lloq(j))) p_lloq(j) = fraction_below(simulated.col(j), lloq(j));
    if (censored[static_cast<std::size_t>(j)]) {  // 'cdf': pd ~ U(0, P(Y < LLOQ)), the value its quantile
      const double p = imputation.uniform() * p_lloq(j);
      y(j) = quantile(j, p);
      out.pd[static_cast<std::size_t>(j)] = clamp(p);
    } else {
      out.pd[static_cast<std::size_t>(j)] = clamp(fraction_below(simulated.col(j), observed(j)));
    }
  }
  // Simulated values below the LLOQ are imputed alike, so observations and simulations are treated the same.
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index r = 0; r < n_sim && p_lloq(j) > 0.0; ++r)
      if (simulated(r, j) < lloq(j)) simulated(r, j) = quantile(j, imputation.uniform() * p_lloq(j));

  if (n_sim <= n) return out;  // fewer replicates than records: the covariance is singular
  const Eigen::RowVectorXd mean = simulated.colwise().mean();
  const Eigen::MatrixXd centred = simulated.rowwise() - mean;
  const Eigen::LLT<Eigen::MatrixXd> llt(centred.transpose() * centred / (k - 1.0));
  if (llt.info() != Eigen::Success) return out;
  // L⁻¹(y − m), as the npde package's t(solve(chol(V))) %*% (y − m).
  const Eigen::MatrixXd decorrelated_sim = llt.matrixL().solve(centred.transpose());
  const Eigen::VectorXd decorrelated_obs = llt.matrixL().solve(y - mean.transpose());
  for (Eigen::Index j = 0; j < n; ++j) {
    const double pde = fraction_below(decorrelated_sim.row(j).transpose(), decorrelated_obs(j));
    out.npde[static_cast<std::size_t>(j)] = normal_quantile(clamp(pde));
  }
  out.decorrelated = true;
  return out;
}

}  // namespace cartpk::fitting
