// The population fit's shared pieces: the subject pool and the FOCE-I inner problem (the conditional mode of η).
#include <cmath>
#include <limits>

#include "fitting/optimizer.hpp"
#include "fitting/population_detail.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting::detail {

PopulationContext::PopulationContext(const PopulationSetup& setup, const std::vector<Subject>& subjects, int threads)
    : setup_(setup), subjects_(subjects), positions_(random_effect_positions(setup)), threads_(threads) {
  for (const auto& s : subjects) designs_.push_back(covariate_design(setup, s));
  std::vector<bool> observed(setup.base.error_models.size(), false);
  for (const auto& s : subjects)
    for (const auto& obs : s.observations) observed[static_cast<std::size_t>(obs.observable)] = true;
  for (std::size_t j = 0; j < observed.size(); ++j)
    if (observed[j] && setup.base.error_models[j].estimated)
      for (int w = 0; w < setup.base.error_models[j].n_parameters(); ++w) error_slots_.push_back({j, w});
  const unsigned n = cohort_threads(threads, subjects.size());
  for (unsigned t = 0; t < n; ++t)
    solvers_.push_back(make_solver(*setup.base.model, setup.base.method, setup.base.solver_options));
}

Eigen::VectorXd PopulationContext::mean_phi(std::size_t i, const PopulationEstimates& e) const {
  return e.beta.size() > 0 ? Eigen::VectorXd(e.mu + designs_[i] * e.beta) : e.mu;
}

Eigen::VectorXd PopulationContext::phi(const Eigen::VectorXd& mean, const Eigen::VectorXd& eta) const {
  Eigen::VectorXd out = mean;
  for (std::size_t k = 0; k < positions_.size(); ++k) out(positions_[k]) += eta(static_cast<Eigen::Index>(k));
  return out;
}

Eigen::VectorXd PopulationContext::eta_part(const Eigen::VectorXd& v) const {
  Eigen::VectorXd out(n_eta());
  for (std::size_t k = 0; k < positions_.size(); ++k) out(static_cast<Eigen::Index>(k)) = v(positions_[k]);
  return out;
}

OmegaFactors::OmegaFactors(const Eigen::MatrixXd& omega) {
  const Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success) throw InputError("Ω is not positive definite (expected a symmetric positive-definite covariance)");
  inverse = llt.solve(Eigen::MatrixXd::Identity(omega.rows(), omega.cols()));
  log_det = 0.0;
  for (Eigen::Index k = 0; k < omega.rows(); ++k) log_det += 2.0 * std::log(llt.matrixL()(k, k));
}

namespace {
struct InnerPoint {
  double objective = std::numeric_limits<double>::infinity();
  Eigen::VectorXd gradient;
  Eigen::MatrixXd hessian;
  std::vector<RecordTerms> records;
};

InnerPoint evaluate(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                    const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& eta) {
  InnerPoint point;
  const double m2ll = model.evaluate(context.phi(mean, eta), errors, true, point.records);
  if (!std::isfinite(m2ll)) return point;
  point.objective = m2ll + eta.dot(omega.inverse * eta);
  point.gradient = 2.0 * omega.inverse * eta;
  point.hessian = omega.inverse;
  for (const auto& r : point.records) {
    const Eigen::VectorXd v = context.eta_part(r.dg);
    point.gradient += r.d_minus2ll * v;
    point.hessian.noalias() += r.weight * v * v.transpose();
  }
  return point;
}

double value_at(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& eta) {
  const double m2ll = model.minus2ll(context.phi(mean, eta), errors);
  return std::isfinite(m2ll) ? m2ll + eta.dot(omega.inverse * eta) : std::numeric_limits<double>::infinity();
}
}  // namespace

InnerSolution solve_inner(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                          const OmegaFactors& omega, const std::vector<ErrorModel>& errors, const Eigen::VectorXd& start) {
  constexpr int kMaxIterations = 100;
  constexpr double kDecrement = 1e-12;  // stop when the Newton decrement −gᵀδ/2 is below this (on L)
  InnerSolution out;
  const Eigen::VectorXd zero = Eigen::VectorXd::Zero(context.n_eta());
  // Warm start from the last solution unless η = 0 is better (NONMEM-style reset).
  Eigen::VectorXd eta = start.size() == zero.size() ? start : zero;
  if (start.size() == zero.size() && !start.isZero() &&
      value_at(context, model, mean, omega, errors, zero) <= value_at(context, model, mean, omega, errors, start))
    eta = zero;
  InnerPoint point = evaluate(context, model, mean, omega, errors, eta);
  if (!std::isfinite(point.objective) && !eta.isZero()) {
    eta = zero;
    point = evaluate(context, model, mean, omega, errors, eta);
  }
  if (!std::isfinite(point.objective)) return out;
  int iteration = 0;
  for (; iteration < kMaxIterations && eta.size() > 0; ++iteration) {
    const Eigen::VectorXd step = -(2.0 * point.hessian).ldlt().solve(point.gradient);
    const double slope = point.gradient.dot(step);  // < 0: H is positive definite
    if (!(slope < 0.0) || -0.5 * slope < kDecrement) break;
    double s = 1.0, trial = 0.0;
    Eigen::VectorXd candidate;
    for (int halving = 0; halving < 40; ++halving, s *= 0.5) {
      candidate = eta + s * step;
      trial = value_at(context, model, mean, omega, errors, candidate);
      if (trial <= point.objective + 1e-4 * s * slope) break;
    }
    if (!(trial <= point.objective)) break;  // no decrease along the Gauss–Newton direction: at the mode
    eta = candidate;
    point = evaluate(context, model, mean, omega, errors, eta);
    if (!std::isfinite(point.objective)) return out;
  }
  // Gauss–Newton stalls at a kink (an event time crossing a sampling time, as stein2019's tmax): finish there
  // derivative-free, then take the FOCE-I terms at the point found.
  const Eigen::VectorXd last_step = eta.size() > 0 ? Eigen::VectorXd(-(2.0 * point.hessian).ldlt().solve(point.gradient))
                                                   : Eigen::VectorXd();
  if (eta.size() > 0 && -0.5 * point.gradient.dot(last_step) > 1e-6) {
    Problem problem;
    problem.lower.assign(static_cast<std::size_t>(eta.size()), -20.0);
    problem.upper.assign(static_cast<std::size_t>(eta.size()), 20.0);
    problem.f = [&](const std::vector<double>& z, std::vector<double>*) {
      const double v = value_at(context, model, mean, omega, errors, Eigen::Map<const Eigen::VectorXd>(z.data(), eta.size()));
      return std::isfinite(v) ? v : 1e300;
    };
    OptimizerOptions o;
    o.max_evaluations = 200 * static_cast<int>(eta.size());
    o.xtol_rel = 1e-10;
    o.ftol_abs = 1e-10;
    const auto polished = minimise_derivative_free(problem, std::vector<double>(eta.data(), eta.data() + eta.size()), o);
    if (polished.ok && polished.ofv < point.objective) {
      eta = Eigen::Map<const Eigen::VectorXd>(polished.optimum.data(), eta.size());
      point = evaluate(context, model, mean, omega, errors, eta);
      if (!std::isfinite(point.objective)) return out;
    }
  }
  out.ok = true;
  out.iterations = iteration;
  out.eta = eta;
  out.objective = point.objective;
  out.hessian = point.hessian;
  out.records = std::move(point.records);
  const Eigen::LLT<Eigen::MatrixXd> llt(out.hessian);
  double log_det_h = 0.0;
  for (Eigen::Index k = 0; k < out.hessian.rows(); ++k) log_det_h += 2.0 * std::log(llt.matrixL()(k, k));
  out.focei = out.objective + omega.log_det + log_det_h;
  return out;
}

}  // namespace cartpk::fitting::detail
