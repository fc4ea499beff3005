#include "fitting/population_fit.hpp"

#include <chrono>
#include <cmath>
#include <numbers>

#include "fitting/focei.hpp"
#include "fitting/npde.hpp"
#include "fitting/saem.hpp"
#include "fitting/transforms.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

std::string method_name(PopulationMethod method) { return method == PopulationMethod::saem ? "saem" : "focei"; }

PopulationEstimates initial_estimates(const PopulationSetup& setup) {
  PopulationEstimates e;
  const Model& model = *setup.base.model;
  const auto n = static_cast<Eigen::Index>(setup.base.estimated.size());
  e.mu.resize(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const auto i = static_cast<std::size_t>(setup.base.estimated[static_cast<std::size_t>(k)]);
    e.mu(k) = to_unconstrained(transform_for(model.parameters()[i].domain, setup.base.lower[static_cast<std::size_t>(k)]),
                               setup.base.parameters[i]);
  }
  e.beta.resize(static_cast<Eigen::Index>(setup.effects.size()));
  for (std::size_t c = 0; c < setup.effects.size(); ++c) e.beta(static_cast<Eigen::Index>(c)) = setup.effects[c].initial;
  e.omega = setup.omega;
  e.errors = setup.base.error_models;
  return e;
}

double focei_minus2ll(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                      const PopulationEstimates& estimates, int threads, std::vector<Eigen::VectorXd>* etas) {
  const detail::PopulationContext context(setup, subjects, threads);
  std::vector<Eigen::VectorXd> local;
  auto& eta = etas ? *etas : local;
  const auto terms = detail::focei_terms(context, estimates, eta, detail::kThoroughSearch);
  if (!terms.failed.empty())
    throw EstimationError("FOCE-I: subject " + subjects[terms.failed.front()].id + " has no feasible conditional mode");
  return terms.minus2ll;
}

namespace {
// The population table: typical values, β, Ω entries and error parameters, with SEs from the covariance.
void fill_parameter_table(const detail::PopulationContext& context, const detail::LinearisedCovariance& cov,
                          PopulationFitResult& result) {
  const auto& setup = context.setup();
  const Model& model = *setup.base.model;
  const auto& e = result.estimates;
  Eigen::Index row = 0;
  const auto se = [&](double scale) {
    const double v = cov.covariance.size() ? std::sqrt(cov.covariance(row, row)) * std::abs(scale) : std::nan("");
    ++row;
    return v;
  };
  for (std::size_t k = 0; k < setup.base.estimated.size(); ++k) {
    const auto& spec = model.parameters()[static_cast<std::size_t>(setup.base.estimated[k])];
    const auto t = transform_for(spec.domain, setup.base.lower[k]);
    const double mu = e.mu(static_cast<Eigen::Index>(k));
    result.parameters.push_back({std::string(spec.name), "typical", from_unconstrained(t, mu), se(value_derivative(t, mu))});
  }
  for (std::size_t c = 0; c < setup.effects.size(); ++c) {
    const auto& effect = setup.effects[c];
    std::string name = "beta_" + std::string(model.parameters()[static_cast<std::size_t>(effect.parameter)].name) + "_" + effect.covariate;
    if (effect.form == EffectForm::categorical) name += "_" + effect.level;
    result.parameters.push_back({name, "beta", e.beta(static_cast<Eigen::Index>(c)), se(1.0)});
  }
  const auto re_name = [&](Eigen::Index a) {
    return std::string(model.parameters()[static_cast<std::size_t>(setup.random_effects[static_cast<std::size_t>(a)])].name);
  };
  for (Eigen::Index a = 0; a < e.omega.rows(); ++a)
    for (Eigen::Index b = setup.omega_full ? 0 : a; b <= a; ++b)
      result.parameters.push_back({a == b ? "omega2_" + re_name(a) : "omega_" + re_name(b) + "_" + re_name(a), "omega",
                                   e.omega(a, b), se(1.0)});
  for (const auto& slot : context.error_slots()) {
    const auto& error = e.errors[slot.observable];
    const auto names = error.parameter_names(std::string(model.observables()[slot.observable].name));
    result.parameters.push_back({names[static_cast<std::size_t>(slot.which)], "error",
                                 error.parameter_values()[static_cast<std::size_t>(slot.which)], se(1.0)});
  }
}

void fill_subjects(const detail::PopulationContext& context, const std::vector<detail::InnerSolution>& solutions,
                   PopulationFitResult& result) {
  const auto& e = result.estimates;
  auto preds = context.map([&](IndividualModel& model, std::size_t i) { return model.predictions(context.mean_phi(i, e)); });
  for (std::size_t i = 0; i < solutions.size(); ++i) {
    const auto& s = solutions[i];
    const auto& subject = context.subjects()[i];
    SubjectEstimate out;
    out.id = subject.id;
    out.ok = s.ok;
    out.pred = preds[i];
    if (!s.ok) {
      out.message = "failed: no feasible conditional mode";
      const auto n_obs = subject.observations.size();
      out.ipred.assign(n_obs, std::nan(""));
      out.iwres = out.cwres = out.ipred;
      result.subjects.push_back(std::move(out));
      continue;
    }
    out.eta = s.eta;
    const Eigen::VectorXd phi = context.phi(context.mean_phi(i, e), s.eta);
    out.parameters = parameters_at(context.setup().base, phi);
    out.focei_contribution = s.focei;
    for (const auto& r : s.records) {
      out.ipred.push_back(r.f);
      out.iwres.push_back(r.censored ? std::nan("") : (r.y - r.g) / std::sqrt(r.variance));
    }
    out.cwres = detail::conditional_weighted_residuals(context, s, e.omega);
    result.subjects.push_back(std::move(out));
  }
}

// pd and npde per record from K replicates of every subject; skipped after a stop request (K solves per subject).
void fill_discrepancies(const detail::PopulationContext& context, const PopulationOptions& options,
                        PopulationFitResult& result) {
  const bool run = options.npde_samples > 0 && !result.interrupted && !context.stop_requested(options.cancel);
  const auto d = run ? detail::prediction_discrepancies(context, result.estimates, options.npde_samples, options.seed)
                     : std::vector<SubjectDiscrepancies>();
  result.npde_samples = run ? options.npde_samples : 0;
  for (std::size_t i = 0; i < result.subjects.size(); ++i) {
    auto& s = result.subjects[i];
    if (!run) {
      s.pd.assign(context.subjects()[i].observations.size(), std::nan(""));
      s.npde = s.pd;
      continue;
    }
    s.pd = d[i].pd;
    s.npde = d[i].npde;
    result.npde_failed_simulations += d[i].failed_simulations;
    result.npde_singular_subjects += d[i].decorrelated ? 0 : 1;
  }
}

std::vector<double> shrinkage_sd(const std::vector<SubjectEstimate>& subjects, const Eigen::MatrixXd& omega) {
  std::vector<double> out;
  for (Eigen::Index k = 0; k < omega.rows(); ++k) {
    double sum = 0.0, sum2 = 0.0;
    int n = 0;
    for (const auto& s : subjects)
      if (s.ok) {
        sum += s.eta(k);
        sum2 += s.eta(k) * s.eta(k);
        ++n;
      }
    const double var = n > 1 ? (sum2 - sum * sum / n) / (n - 1) : std::nan("");
    out.push_back(100.0 * (1.0 - std::sqrt(var / omega(k, k))));
  }
  return out;
}
}  // namespace

PopulationFitResult fit_population(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                                   const PopulationOptions& options, const PopulationProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  if (options.method == PopulationMethod::saem)
    for (int p : setup.base.estimated)
      if (std::find(setup.random_effects.begin(), setup.random_effects.end(), p) == setup.random_effects.end())
        throw InputError("--method saem: " + std::string(setup.base.model->parameters()[static_cast<std::size_t>(p)].name) +
                         " has no random effect (expected --iiv on every estimated parameter for SAEM, or --method focei)");
  const detail::PopulationContext context(setup, subjects, options.threads, options.exchange);
  PopulationFitResult result;
  result.method = options.method;
  result.estimates = initial_estimates(setup);
  detail::ConditionalMoments moments;
  std::vector<Eigen::VectorXd> etas;  // warm starts of the final search for the conditional modes
  if (options.method == PopulationMethod::saem) {
    detail::run_saem(context, result.estimates, options, progress, result, moments);
    for (std::size_t i = 0; i < subjects.size(); ++i)  // SAEM's conditional means
      etas.push_back(moments.mean[i].size() ? context.eta_part(moments.mean[i] - context.mean_phi(i, result.estimates))
                                            : Eigen::VectorXd());
  } else {
    detail::run_focei(context, result.estimates, options, progress, result, etas);
  }

  // The same ending for both methods: conditional modes, FOCE-I terms, SEs, residuals, shrinkage, pd and npde.
  auto terms = detail::focei_terms(context, result.estimates, etas, detail::kThoroughSearch);
  for (const auto& s : subjects) {
    result.n_observations += s.observations.size();
    for (const auto& o : s.observations) result.n_censored += o.censored;
  }
  if (options.method == PopulationMethod::focei || options.importance_samples <= 0) {
    result.minus2ll = terms.failed.empty() ? terms.minus2ll : std::nan("");
    result.minus2ll_method = "FOCE-I approximation";
  } else {
    const auto [value, se] = detail::importance_sampling_minus2ll(context, result.estimates, moments,
                                                                  options.importance_samples, options.seed);
    result.minus2ll = value;
    result.minus2ll_se = se;
    result.minus2ll_method = "importance sampling (" + std::to_string(options.importance_samples) + " samples per subject)";
  }
  const auto n_uncensored = static_cast<double>(result.n_observations - result.n_censored);
  result.ofv_nonmem = result.minus2ll - n_uncensored * std::log(2.0 * std::numbers::pi);
  const auto covariance = detail::linearised_covariance(context, result.estimates, terms.solutions);
  result.covariance_status = covariance.status;
  fill_parameter_table(context, covariance, result);
  const auto n_parameters = static_cast<double>(result.parameters.size());
  result.aic = result.minus2ll + 2.0 * n_parameters;
  result.bic = result.minus2ll + n_parameters * std::log(static_cast<double>(subjects.size()));
  fill_subjects(context, terms.solutions, result);
  fill_discrepancies(context, options, result);
  result.shrinkage_sd = shrinkage_sd(result.subjects, result.estimates.omega);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace cartpk::fitting
