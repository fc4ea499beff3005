#include "fitting/uncertainty.hpp"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <sstream>

#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

std::string_view information_name(Information information) {
  return information == Information::expected ? "expected" : "observed";
}

Information parse_information(const std::string& name) {
  if (name == "expected") return Information::expected;
  if (name == "observed") return Information::observed;
  throw InputError("information '" + name + "': expected 'expected' or 'observed'");
}

Eigen::MatrixXd observed_hessian(const Problem& problem, const std::vector<double>& z) {
  const auto n = static_cast<Eigen::Index>(z.size());
  Eigen::MatrixXd hessian(n, n);
  std::vector<double> gp, gm, zs = z;
  for (Eigen::Index j = 0; j < n; ++j) {
    const auto jj = static_cast<std::size_t>(j);
    const double h = 1e-4 * std::max(1.0, std::abs(z[jj]));
    const double up = std::min(z[jj] + h, problem.upper[jj]), down = std::max(z[jj] - h, problem.lower[jj]);
    zs[jj] = up;
    problem.f(zs, &gp);
    zs[jj] = down;
    problem.f(zs, &gm);
    zs[jj] = z[jj];
    for (Eigen::Index i = 0; i < n; ++i)
      hessian(i, j) = (gp[static_cast<std::size_t>(i)] - gm[static_cast<std::size_t>(i)]) / (up - down);
  }
  return 0.5 * (hessian + hessian.transpose());
}

Uncertainty uncertainty_from(Information information, const Eigen::MatrixXd& hessian, const Problem& problem,
                             const std::vector<double>& z, const std::vector<double>& natural,
                             const std::vector<double>& dnatural_dz) {
  const auto n = static_cast<Eigen::Index>(z.size());
  Uncertainty u;
  u.information = information;
  u.hessian = hessian;
  std::vector<bool> at_bound(z.size(), false);
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double h = 1e-4 * std::max(1.0, std::abs(z[i]));
    at_bound[i] = z[i] - problem.lower[i] < 1e-6 * h || problem.upper[i] - z[i] < 1e-6 * h;
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(u.hessian);
  const auto& lambda = eig.eigenvalues();
  const double lmax = lambda.cwiseAbs().maxCoeff();
  u.condition_number = lambda.minCoeff() > 0.0 ? lmax / lambda.minCoeff() : std::numeric_limits<double>::infinity();
  u.se.assign(z.size(), std::nan(""));
  u.rse_percent.assign(z.size(), std::nan(""));
  u.poorly_determined.assign(z.size(), false);
  std::ostringstream note;
  if (!(lambda.minCoeff() > 1e-10 * lmax)) {
    // Near-singular information: flag the parameters that load on the null directions, invert what remains.
    note << "near-singular information (condition number " << u.condition_number << ")";
    for (Eigen::Index e = 0; e < n; ++e) {
      if (lambda(e) > 1e-10 * lmax) continue;
      for (Eigen::Index i = 0; i < n; ++i)
        if (std::abs(eig.eigenvectors()(i, e)) > 0.3) u.poorly_determined[static_cast<std::size_t>(i)] = true;
    }
    Eigen::VectorXd inv = lambda.unaryExpr([lmax](double l) { return l > 1e-10 * lmax ? 1.0 / l : 0.0; });
    u.covariance = 2.0 * eig.eigenvectors() * inv.asDiagonal() * eig.eigenvectors().transpose();
  } else {
    u.covariance = 2.0 * eig.eigenvectors() * lambda.cwiseInverse().asDiagonal() * eig.eigenvectors().transpose();
    u.ok = true;
  }
  const Eigen::VectorXd sd = u.covariance.diagonal().cwiseMax(0.0).cwiseSqrt();
  u.correlation = u.covariance;
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < n; ++j)
      u.correlation(i, j) = sd(i) > 0.0 && sd(j) > 0.0 ? u.covariance(i, j) / (sd(i) * sd(j)) : std::nan("");
  for (std::size_t i = 0; i < z.size(); ++i) {
    if (at_bound[i]) u.poorly_determined[i] = true;  // an estimate on its bound has no Wald standard error
    if (u.poorly_determined[i]) continue;
    u.se[i] = std::abs(dnatural_dz[i]) * sd(static_cast<Eigen::Index>(i));
    u.rse_percent[i] = 100.0 * u.se[i] / std::abs(natural[i]);
    if (u.rse_percent[i] > 100.0) u.poorly_determined[i] = true;
  }
  u.note = note.str();
  return u;
}

double profile_threshold(CiCalibration calibration, std::size_t n_records, std::size_t n_estimated) {
  if (calibration == CiCalibration::chi_square || n_records <= n_estimated) return kChiSquare95;
  const auto nu = static_cast<double>(n_records - n_estimated);
  const double t = boost::math::quantile(boost::math::students_t(nu), 0.975);  // F₁,ν(0.95) = t²ν(0.975)
  return static_cast<double>(n_records) * std::log1p(t * t / nu);
}

std::string_view calibration_name(CiCalibration calibration) {
  return calibration == CiCalibration::chi_square ? "chi_square" : "f_small_sample";
}

Profile profile_likelihood(const Problem& problem, const std::vector<double>& z_opt, double ofv_opt, std::size_t k,
                           double se_z, const std::function<double(double)>& to_natural, const OptimizerOptions& options,
                           double threshold) {
  const auto& lower = problem.lower;
  const auto& upper = problem.upper;
  Profile profile;
  profile.index = k;
  profile.threshold = threshold;
  profile.points.push_back({z_opt[k], to_natural(z_opt[k]), ofv_opt});
  const double base_step = std::isfinite(se_z) && se_z > 0.0 ? std::clamp(0.5 * se_z, 0.02, 0.5) : 0.1;
  for (int direction : {-1, +1}) {
    double zk = z_opt[k], step = base_step, previous_delta = 0.0, previous_z = z_opt[k];
    std::vector<double> w = Problem::drop(z_opt, k);
    bool found = false;
    for (int n = 0; n < 60 && !found; ++n) {
      const double bound = direction < 0 ? lower[k] : upper[k];
      zk += direction * step;
      const bool at_bound = direction < 0 ? zk <= bound : zk >= bound;
      if (at_bound) zk = bound;
      const Problem restricted = problem.with_fixed(k, zk);
      const auto r = minimise(restricted, w, options);
      if (!r.ok) {
        profile.note += "re-optimisation failed at z = " + std::to_string(zk) + "; ";
        break;
      }
      w = r.optimum;
      const double delta = r.ofv - ofv_opt;
      if (delta < -1e-3) profile.note += "profile went below the optimum (a better optimum exists); ";
      profile.points.push_back({zk, to_natural(zk), r.ofv});
      if (delta >= threshold) {
        const double zc = previous_z + (threshold - previous_delta) * (zk - previous_z) / (delta - previous_delta);
        (direction < 0 ? profile.lower : profile.upper) = to_natural(zc);
        found = true;
      }
      if (at_bound) break;
      // Aim for ΔOFV increments of about 0.5–1.5 per point.
      const double increment = delta - previous_delta;
      if (increment < 0.3) step *= 1.6;
      else if (increment > 1.5) step *= 0.6;
      previous_delta = delta;
      previous_z = zk;
    }
    if (!found) profile.note += std::string(direction < 0 ? "lower" : "upper") + " limit not reached in the box; ";
  }
  std::sort(profile.points.begin(), profile.points.end(), [](const ProfilePoint& a, const ProfilePoint& b) { return a.z < b.z; });
  return profile;
}

}  // namespace cartpk::fitting
