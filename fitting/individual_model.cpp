#include "fitting/individual_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fitting/objective.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

namespace {
constexpr double kTiny = 1e-300;
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

void record_terms(const ErrorModel& error, const Observation& obs, double f, const double* df, int n_phi, RecordTerms& r,
                  double log_value) {
  r.f = f;
  r.censored = obs.censored;
  const bool log_scale = error.type == ErrorType::lognormal;
  const double fc = std::max(f, kTiny);
  r.g = log_scale ? std::log(fc) : f;
  r.y = log_scale ? (std::isnan(log_value) ? std::log(obs.value) : log_value) : obs.value;
  const double sd = error.sd(fc);
  r.variance = sd * sd;
  // dR/dg: only the proportional part of the variance moves with the prediction.
  const double d_variance = log_scale ? 0.0 : 2.0 * error.b * error.b * fc *
                                                  (error.type == ErrorType::additive ? 0.0 : 1.0);
  if (log_scale && !obs.censored && f >= kTiny) {  // the common record: ln y and ln f are at hand, no dual pass
    const double log_ratio = r.y - r.g;
    r.minus2ll = 2.0 * lognormal_minus_loglik(log_ratio, 1.0 / error.a, kHalfLog2Pi + std::log(error.a));
    r.d_minus2ll = -2.0 * log_ratio / r.variance;
  } else {
    const auto rl = record_likelihood(error, obs.value, f, obs.censored);
    r.d_minus2ll = -2.0 * rl.d_prediction * (log_scale ? fc : 1.0);  // d/dg = d/df · df/dg
    r.minus2ll = -2.0 * rl.loglik;
  }
  if (obs.censored) {
    const double z = (r.y - r.g) / sd;
    const double lambda = normal_pdf_over_cdf(z);
    r.weight = lambda * (lambda + z) / r.variance;  // curvature of −ln Φ((LLOQ − g)/sd) in g
  } else {
    r.weight = 1.0 / r.variance + 0.5 * d_variance * d_variance / (r.variance * r.variance);
  }
  if (df) {
    r.dg.resize(n_phi);
    for (int k = 0; k < n_phi; ++k) r.dg(k) = log_scale ? df[k] / fc : df[k];
  } else {
    r.dg.resize(0);
  }
}

IndividualModel::IndividualModel(const FitSetup& setup, const Subject& subject, Solver& solver)
    : setup_(setup), subject_(subject), solver_(&solver) {
  const Model& model = *setup.model;
  for (std::size_t k = 0; k < setup.estimated.size(); ++k)
    transforms_.push_back(transform_for(model.parameters()[static_cast<std::size_t>(setup.estimated[k])].domain, setup.lower[k]));
  request_ = subject_request(setup, subject, time_index_);
  for (const auto& obs : subject.observations) log_values_.push_back(obs.value > 0.0 ? std::log(obs.value) : std::nan(""));
}

std::vector<double> parameters_at(const FitSetup& setup, const Eigen::VectorXd& phi) {
  auto p = setup.parameters;
  for (std::size_t k = 0; k < setup.estimated.size(); ++k) {
    const auto i = static_cast<std::size_t>(setup.estimated[k]);
    p[i] = from_unconstrained(transform_for(setup.model->parameters()[i].domain, setup.lower[k]), phi(static_cast<Eigen::Index>(k)));
  }
  return p;
}

std::vector<double> IndividualModel::model_parameters(const Eigen::VectorXd& phi) const { return parameters_at(setup_, phi); }

bool IndividualModel::solve(const Eigen::VectorXd& phi, Output output) {
  for (std::size_t k = 0; k < transforms_.size(); ++k) {
    const double v = from_unconstrained(transforms_[k], phi(static_cast<Eigen::Index>(k)));
    if (!std::isfinite(v) || !in_domain(setup_.model->parameters()[static_cast<std::size_t>(setup_.estimated[k])].domain, v))
      return false;
    request_.parameters[static_cast<std::size_t>(setup_.estimated[k])] = v;
  }
  if (!setup_.model->check_parameters(request_.parameters).empty()) return false;
  request_.sensitivity_parameters.clear();
  if (output == Output::derivatives) request_.sensitivity_parameters = setup_.estimated;
  ++solves_;
  try {
    if (output == Output::values_only)
      solver_->solve_values(request_, result_);
    else
      solver_->solve(request_, result_);
  } catch (const SolverError&) {
    return false;  // this φ is infeasible for the subject; the caller treats it as zero likelihood
  }
  return true;
}

double IndividualModel::evaluate(const Eigen::VectorXd& phi, const std::vector<ErrorModel>& errors, bool derivatives,
                                 std::vector<RecordTerms>& records) {
  if (!solve(phi, derivatives ? Output::derivatives : Output::values)) {
    records.clear();
    return kInf;
  }
  const int n_phi = static_cast<int>(transforms_.size());
  df_.resize(transforms_.size());
  records.resize(subject_.observations.size());  // existing records keep their storage
  double total = 0.0;
  for (std::size_t i = 0; i < subject_.observations.size(); ++i) {
    const auto& obs = subject_.observations[i];
    const auto row = static_cast<Eigen::Index>(time_index_[i]);
    const auto j = static_cast<std::size_t>(obs.observable);
    const double f = result_.observables(row, static_cast<Eigen::Index>(j));
    if (derivatives)
      for (std::size_t k = 0; k < transforms_.size(); ++k)  // chain rule through the transform: ∂f/∂φ
        df_[k] = result_.observable_sensitivities[j](row, static_cast<Eigen::Index>(k)) *
                 value_derivative(transforms_[k], phi(static_cast<Eigen::Index>(k)));
    record_terms(errors[j], obs, f, derivatives ? df_.data() : nullptr, n_phi, records[i], log_values_[i]);
    total += records[i].minus2ll;
  }
  return std::isfinite(total) ? total : kInf;
}

double IndividualModel::minus2ll(const Eigen::VectorXd& phi, const std::vector<ErrorModel>& errors) {
  if (!solve(phi, Output::values_only)) return kInf;
  double total = 0.0;
  for (std::size_t i = 0; i < subject_.observations.size(); ++i) {
    const auto& obs = subject_.observations[i];
    const auto j = static_cast<std::size_t>(obs.observable);
    const double f = result_.observables(static_cast<Eigen::Index>(time_index_[i]), static_cast<Eigen::Index>(j));
    total += -2.0 * record_likelihood(errors[j], obs.value, f, obs.censored).loglik;
  }
  return std::isfinite(total) ? total : kInf;
}

void IndividualModel::predictions(const Eigen::VectorXd& phi, std::vector<double>& out) {
  out.assign(subject_.observations.size(), std::nan(""));
  if (!solve(phi, Output::values_only)) return;
  for (std::size_t i = 0; i < subject_.observations.size(); ++i)
    out[i] = result_.observables(static_cast<Eigen::Index>(time_index_[i]),
                                 static_cast<Eigen::Index>(subject_.observations[i].observable));
}

}  // namespace cartpk::fitting
