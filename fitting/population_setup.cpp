#include "fitting/population_setup.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "fitting/transforms.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

namespace {
std::string parameter_name(const PopulationSetup& setup, int i) {
  return std::string(setup.base.model->parameters()[static_cast<std::size_t>(i)].name);
}

int estimated_position(const PopulationSetup& setup, int parameter) {
  const auto& est = setup.base.estimated;
  const auto it = std::find(est.begin(), est.end(), parameter);
  return it == est.end() ? -1 : static_cast<int>(it - est.begin());
}

double effect_value(const CovariateEffect& effect, const Subject& subject) {
  if (effect.form == EffectForm::categorical) {
    const auto level = category_of(effect.covariate, subject.covariates, subject.categorical);
    return level && *level == effect.level ? 1.0 : 0.0;
  }
  const double x = subject.covariates.at(effect.covariate);
  return effect.form == EffectForm::power ? std::log(x / effect.reference) : x - effect.reference;
}
}  // namespace

std::string effect_form_name(EffectForm form) {
  switch (form) {
    case EffectForm::power: return "power";
    case EffectForm::exponential: return "exponential";
    case EffectForm::categorical: return "categorical";
  }
  return "?";
}

std::vector<int> random_effect_positions(const PopulationSetup& setup) {
  std::vector<int> positions;
  for (int p : setup.random_effects) positions.push_back(estimated_position(setup, p));
  return positions;
}

Eigen::MatrixXd covariate_design(const PopulationSetup& setup, const Subject& subject) {
  Eigen::MatrixXd design = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(setup.base.estimated.size()),
                                                 static_cast<Eigen::Index>(setup.effects.size()));
  for (std::size_t c = 0; c < setup.effects.size(); ++c)
    design(estimated_position(setup, setup.effects[c].parameter), static_cast<Eigen::Index>(c)) =
        effect_value(setup.effects[c], subject);
  return design;
}

void prepare_population_setup(PopulationSetup& setup, const std::vector<Subject>& subjects, const std::string& source) {
  validate_setup(setup.base);
  const auto n_re = setup.random_effects.size();
  std::set<int> seen;
  for (int p : setup.random_effects) {
    if (estimated_position(setup, p) < 0)
      throw InputError("--iiv: " + parameter_name(setup, p) +
                       " is not estimated (expected random effects on estimated parameters only; a fixed parameter "
                       "has no typical value to vary around)");
    if (!seen.insert(p).second) throw InputError("--iiv: " + parameter_name(setup, p) + " is named twice");
    const auto k = static_cast<std::size_t>(estimated_position(setup, p));
    const auto& spec = setup.base.model->parameters()[static_cast<std::size_t>(p)];
    if (spec.domain != Domain::real && transform_for(spec.domain, setup.base.lower[k]) == Transform::identity)
      throw InputError("--iiv: " + parameter_name(setup, p) + " has lower bound " + std::to_string(setup.base.lower[k]) +
                       ", so a log-normal random effect cannot be placed on it (expected --bounds " +
                       parameter_name(setup, p) + "=LOWER:UPPER with LOWER > 0)");
  }
  if (setup.omega.rows() != static_cast<Eigen::Index>(n_re) || setup.omega.cols() != static_cast<Eigen::Index>(n_re))
    throw InputError("--iiv: the starting Ω has the wrong size (expected " + std::to_string(n_re) + " × " +
                     std::to_string(n_re) + ")");
  if (n_re > 0 && (setup.omega.llt().info() != Eigen::Success || !setup.omega.isApprox(setup.omega.transpose())))
    throw InputError("--omega: the starting Ω is not symmetric positive definite");
  if (subjects.size() <= n_re)
    throw InputError(source + ": " + std::to_string(subjects.size()) + " subjects for " + std::to_string(n_re) +
                     " random effects (expected more subjects than random effects: Ω is not identifiable otherwise)");
  for (auto& effect : setup.effects) {
    if (estimated_position(setup, effect.parameter) < 0)
      throw InputError("--covariate " + effect.covariate + " on " + parameter_name(setup, effect.parameter) +
                       ": the parameter is not estimated (expected a covariate effect on an estimated parameter)");
    std::vector<double> values;
    for (const auto& s : subjects) {
      if (effect.form == EffectForm::categorical) {
        if (!s.categorical.count(effect.covariate) && !s.covariates.count(effect.covariate))
          throw InputError(source + ": subject " + s.id + " (line " + std::to_string(s.first_line) + ") has no value of " +
                           effect.covariate + " (expected the column, non-empty, for every subject)");
        continue;
      }
      const auto it = s.covariates.find(effect.covariate);
      if (it == s.covariates.end())
        throw InputError(source + ": subject " + s.id + " (line " + std::to_string(s.first_line) + ") has no numeric " +
                         effect.covariate + (s.categorical.count(effect.covariate) ? " (the column holds text)" : "") +
                         " (expected a number for every subject, for --covariate " + effect.covariate + ")");
      if (effect.form == EffectForm::power && !(it->second > 0.0))
        throw InputError(source + ": subject " + s.id + " has " + effect.covariate + " = " + std::to_string(it->second) +
                         " (expected > 0 for a power covariate model)");
      values.push_back(it->second);
    }
    if (effect.form != EffectForm::categorical && effect.reference == 0.0 && !values.empty()) {
      std::sort(values.begin(), values.end());
      const auto n = values.size();
      effect.reference = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
    }
  }
}

namespace {
// Per covariate of a categorical effect, the fraction of subjects at each level (levels sorted), each subject's
// level decided by category_of, as the fit decided it.
std::vector<CategoryDistribution> observed_categories(const PopulationSetup& setup, const std::vector<Subject>& subjects) {
  std::map<std::string, std::map<std::string, int>> counts;  // covariate → level → subjects
  for (const auto& e : setup.effects)
    if (e.form == EffectForm::categorical)
      for (const auto& s : subjects)
        if (const auto level = category_of(e.covariate, s.covariates, s.categorical)) ++counts[e.covariate][*level];
  std::vector<CategoryDistribution> out;
  for (const auto& [name, levels] : counts) {
    CategoryDistribution c{name, {}, {}};
    int total = 0;
    for (const auto& [level, n] : levels) total += n;
    for (const auto& [level, n] : levels) {
      c.levels.push_back(level);
      c.probabilities.push_back(static_cast<double>(n) / static_cast<double>(total));
    }
    out.push_back(std::move(c));
  }
  return out;
}
}  // namespace

PopulationModel to_population_model(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                                    const Eigen::VectorXd& mu, const Eigen::VectorXd& beta, const Eigen::MatrixXd& omega) {
  const Model& model = *setup.base.model;
  PopulationModel out;
  out.model = &model;
  out.typical = setup.base.parameters;
  for (std::size_t k = 0; k < setup.base.estimated.size(); ++k) {
    const auto i = static_cast<std::size_t>(setup.base.estimated[k]);
    const auto t = transform_for(model.parameters()[i].domain, setup.base.lower[k]);
    out.typical[i] = from_unconstrained(t, mu(static_cast<Eigen::Index>(k)));
  }
  out.random_effects = setup.random_effects;
  for (int p : setup.random_effects)  // η on the scale the fit estimated it
    out.eta_scales.push_back(eta_scale_for(model.parameters()[static_cast<std::size_t>(p)].domain));
  out.omega = omega;
  for (std::size_t c = 0; c < setup.effects.size(); ++c) {
    const auto& e = setup.effects[c];
    out.relations.push_back({e.parameter, e.covariate,
                             e.form == EffectForm::power         ? CovariateForm::power
                             : e.form == EffectForm::exponential ? CovariateForm::exponential
                                                                 : CovariateForm::categorical,
                             e.reference, beta(static_cast<Eigen::Index>(c)), e.level});
  }
  out.categories = observed_categories(setup, subjects);
  out.source = "population fit";
  return out;
}

}  // namespace cartpk::fitting
