#include "pkmodel/population.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "pkmodel/errors.hpp"

namespace cartpk {

namespace {
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string parameter_name(const Model& model, int index) {
  return std::string(model.parameters()[static_cast<std::size_t>(index)].name);
}
}  // namespace

PatientRng::PatientRng(std::uint64_t seed, std::uint64_t patient, std::uint64_t stream) {
  // Mix the three keys through splitmix64 so neighbouring patients get unrelated streams.
  std::uint64_t s = seed;
  std::uint64_t key = splitmix64(s);
  s = key ^ (patient * 0xD1B54A32D192ED03ULL);
  key = splitmix64(s);
  s = key ^ (stream * 0x8CB92BA72F3D8DD7ULL);
  state_ = splitmix64(s);
}

std::uint64_t PatientRng::next_u64() { return splitmix64(state_); }

double PatientRng::uniform() {
  return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53;  // 53 random bits, never 0 or 1
}

double PatientRng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  const double radius = std::sqrt(-2.0 * std::log(uniform()));
  const double angle = 2.0 * std::numbers::pi * uniform();
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

EtaScale eta_scale_for(Domain domain) {
  return domain == Domain::fraction ? EtaScale::logit : domain == Domain::real ? EtaScale::additive : EtaScale::log;
}

const char* covariate_form_name(CovariateForm form) {
  switch (form) {
    case CovariateForm::power: return "power";
    case CovariateForm::exponential: return "exponential";
    case CovariateForm::categorical: return "categorical";
  }
  return "power";
}

std::optional<std::string> category_of(const std::string& covariate, const Covariates& covariates,
                                       const Categories& categories) {
  if (const auto it = categories.find(covariate); it != categories.end()) return it->second;
  if (const auto it = covariates.find(covariate); it != covariates.end()) return std::to_string(static_cast<long>(it->second));
  return std::nullopt;
}

const char* eta_scale_name(EtaScale scale) {
  switch (scale) {
    case EtaScale::log: return "log";
    case EtaScale::logit: return "logit";
    case EtaScale::additive: return "additive";
  }
  return "log";
}

namespace {
// v shifted by s on a scale: log (v·eˢ), logit (logit⁻¹(logit v + s)) or additive (v + s).
double shifted(double v, double s, EtaScale scale) {
  switch (scale) {
    case EtaScale::log: return v * std::exp(s);
    case EtaScale::logit: return 1.0 / (1.0 + (1.0 - v) / v * std::exp(-s));
    case EtaScale::additive: return v + s;
  }
  return v;
}
}  // namespace

namespace {
// Levels with one probability each, every one in [0, 1], summing to 1 (within rounding of the proportions).
void validate_distribution(const CategoryDistribution& c, const std::string& origin) {
  if (c.levels.empty() || c.levels.size() != c.probabilities.size())
    throw InputError(origin + ": category_probability of " + c.name + ": " + std::to_string(c.probabilities.size()) +
                     " probabilities for " + std::to_string(c.levels.size()) + " levels (expected one per level, at least one level)");
  double sum = 0.0;
  for (double p : c.probabilities) {
    if (!(p >= 0.0 && p <= 1.0))
      throw InputError(origin + ": category_probability of " + c.name + ": found " + number_text(p) +
                       " (expected a probability in [0, 1])");
    sum += p;
  }
  if (!(std::abs(sum - 1.0) <= 1e-9))
    throw InputError(origin + ": category_probability of " + c.name + ": the levels' probabilities sum to " +
                     number_text(sum) + " (expected 1 within 1e-9)");
}
}  // namespace

void PopulationModel::require_category_distributions(const std::string& origin) const {
  for (const auto& r : relations) {
    if (r.form != CovariateForm::categorical) continue;
    if (std::none_of(categories.begin(), categories.end(), [&](const auto& c) { return c.name == r.covariate; }))
      throw InputError(origin + ": the categorical relation on " + parameter_name(*model, r.parameter) + " uses " +
                       r.covariate + ", whose distribution among patients is not recorded, so a virtual patient's "
                       "level cannot be drawn (expected category_covariate, category_level and category_probability, "
                       "which a population fit records; a file from an older cartpk lacks them: fit again)");
  }
}

std::vector<double> PopulationModel::individual(const Eigen::VectorXd& eta, const Covariates& covariates,
                                                const Categories& levels) const {
  std::vector<double> p = typical;
  for (const auto& r : relations) {  // coefficient·x on the parameter's estimation scale, as a population fit has it
    double x = 0.0;
    if (r.form == CovariateForm::categorical) {
      const auto level = category_of(r.covariate, covariates, levels);
      if (!level)
        throw InputError("covariate " + r.covariate + " is needed by its categorical relation on " +
                         parameter_name(*model, r.parameter) + " but the subject has no value for it");
      x = *level == r.level ? 1.0 : 0.0;
    } else {
      const auto it = covariates.find(r.covariate);
      if (it == covariates.end())
        throw InputError("covariate " + r.covariate + " is needed by its relation on " +
                         parameter_name(*model, r.parameter) + " but the subject has no value for it");
      x = r.form == CovariateForm::power ? std::log(it->second / r.reference) : it->second - r.reference;
    }
    double& v = p[static_cast<std::size_t>(r.parameter)];
    v = shifted(v, r.coefficient * x, eta_scale_for(model->parameters()[static_cast<std::size_t>(r.parameter)].domain));
  }
  for (std::size_t k = 0; k < random_effects.size(); ++k) {
    double& v = p[static_cast<std::size_t>(random_effects[k])];
    v = shifted(v, eta[static_cast<Eigen::Index>(k)], eta_scales.empty() ? EtaScale::log : eta_scales[k]);
  }
  return p;
}

void PopulationModel::validate(const std::string& origin) const {
  const auto n = static_cast<Eigen::Index>(random_effects.size());
  if (omega.rows() != n || omega.cols() != n)
    throw InputError(origin + ": Ω has " + std::to_string(omega.rows()) + " rows for " + std::to_string(n) +
                     " random effects");
  if (!eta_scales.empty() && eta_scales.size() != random_effects.size())
    throw InputError(origin + ": " + std::to_string(eta_scales.size()) + " random-effect scales for " +
                     std::to_string(random_effects.size()) + " random effects");
  for (std::size_t k = 0; k < random_effects.size(); ++k) {
    const int index = random_effects[k];
    const auto& spec = model->parameters()[static_cast<std::size_t>(index)];
    const double t = typical[static_cast<std::size_t>(index)];
    const EtaScale scale = eta_scales.empty() ? EtaScale::log : eta_scales[k];
    if (scale == EtaScale::additive) continue;
    if (scale == EtaScale::logit) {
      if (spec.domain != Domain::fraction || !(t > 0.0 && t < 1.0))
        throw InputError(origin + ": parameter " + std::string(spec.name) + " has a logit-scale random effect but " +
                         (spec.domain != Domain::fraction ? std::string("is not a fraction")
                                                          : "typical value " + number_text(t)) +
                         " (expected a fraction strictly between 0 and 1)");
      continue;
    }
    if (spec.domain == Domain::real)
      throw InputError(origin + ": parameter " + std::string(spec.name) +
                       " can be negative (domain real), so log-normal variability does not apply to it");
    if (!(typical[static_cast<std::size_t>(index)] > 0.0))
      throw InputError(origin + ": parameter " + std::string(spec.name) + " has typical value " +
                       number_text(typical[static_cast<std::size_t>(index)]) +
                       ", expected a typical value > 0 for log-normal variability");
  }
  for (const auto& c : categories) validate_distribution(c, origin);
  if (!empirical.empty()) {
    for (const auto& row : empirical)
      if (row.size() != typical.size()) throw InputError(origin + ": an empirical patient has the wrong number of parameters");
    return;
  }
  if (n == 0) return;
  if (!omega.isApprox(omega.transpose(), 1e-12))
    throw InputError(origin + ": Ω is not symmetric");
  Eigen::LLT<Eigen::MatrixXd> llt(omega);
  if (llt.info() != Eigen::Success)
    throw InputError(origin + ": Ω is not positive definite: no covariance matrix has these variances and "
                     "correlations (expected correlations that can hold together; check the [[correlation]] entries)");
}

std::vector<double> scenario_parameters(const std::vector<double>& individual, const std::vector<double>& typical_base,
                                        const std::vector<double>& typical_scenario) {
  std::vector<double> p;
  scenario_parameters(individual, typical_base, typical_scenario, p);
  return p;
}

void scenario_parameters(const std::vector<double>& individual, const std::vector<double>& typical_base,
                         const std::vector<double>& typical_scenario, std::vector<double>& p) {
  p.resize(individual.size());
  for (std::size_t i = 0; i < p.size(); ++i)
    p[i] = typical_scenario[i] == typical_base[i] ? individual[i]
           : typical_base[i] != 0.0               ? individual[i] * (typical_scenario[i] / typical_base[i])
                                                  : typical_scenario[i];
}

PopulationModel published_population(const Model& model) {
  PopulationModel population{&model, model.default_parameters(), {}, {}, {}, "published", {}, {}, {}};
  std::vector<double> variances;
  for (std::size_t i = 0; i < model.n_parameters(); ++i)
    if (model.parameters()[i].iiv_omega2 > 0.0) {
      population.random_effects.push_back(static_cast<int>(i));
      variances.push_back(model.parameters()[i].iiv_omega2);
    }
  if (variances.empty())
    throw InputError("model " + std::string(model.name()) +
                     " has no published between-patient variability: expected --iiv FILE.toml (ω² or CV % per "
                     "parameter, docs/vpop.md; examples/ has one for cart_cd19_bcma)");
  population.omega = Eigen::Map<Eigen::VectorXd>(variances.data(), static_cast<Eigen::Index>(variances.size())).asDiagonal();
  return population;
}

Eigen::MatrixXd omega_cholesky(const PopulationModel& population) {
  if (population.omega.rows() == 0) return {};
  return Eigen::LLT<Eigen::MatrixXd>(population.omega).matrixL();
}

namespace {
// The level whose cumulative probability first exceeds u (inverse CDF over the levels in order).
const std::string& drawn_level(const CategoryDistribution& c, double u) {
  double cumulative = 0.0;
  for (std::size_t k = 0; k < c.levels.size(); ++k)
    if (u < (cumulative += c.probabilities[k])) return c.levels[k];
  return c.levels.back();  // u above a sum rounded just below 1
}
}  // namespace

SampledPatient sample_patient(const PopulationModel& population, const Eigen::MatrixXd& cholesky,
                              const std::vector<CovariateDistribution>& covariates, std::uint64_t seed,
                              std::uint64_t index, int max_draws) {
  SampledPatient patient;
  PatientRng covariate_rng(seed, index, 1);  // covariates and η on separate streams: adding one keeps the other
  for (const auto& c : covariates) {
    if (!c.empirical.empty()) {
      const auto k = static_cast<std::size_t>(covariate_rng.uniform() * static_cast<double>(c.empirical.size()));
      patient.covariates[c.name] = c.empirical[std::min(k, c.empirical.size() - 1)];
      continue;
    }
    const double log_sd = std::sqrt(std::log1p(c.cv * c.cv));
    double value = c.median;
    for (int draw = 0; draw < max_draws; ++draw) {
      value = c.median * std::exp(log_sd * covariate_rng.normal());
      if (value >= c.lower && value <= c.upper) break;
    }
    patient.covariates[c.name] = std::min(std::max(value, c.lower), c.upper);
  }
  PatientRng category_rng(seed, index, 3);  // a stream of its own: every earlier draw stays as it was
  for (const auto& c : population.categories) patient.categories[c.name] = drawn_level(c, category_rng.uniform());
  PatientRng eta_rng(seed, index, 2);
  if (!population.empirical.empty()) {  // a bootstrap draw of one of the cohort's patients
    const auto k = static_cast<std::size_t>(eta_rng.uniform() * static_cast<double>(population.empirical.size()));
    patient.parameters = population.empirical[std::min(k, population.empirical.size() - 1)];
    patient.eta = Eigen::VectorXd();
    return patient;
  }
  const auto n = static_cast<Eigen::Index>(population.random_effects.size());
  Eigen::VectorXd z(n);
  const auto& table = population.model->parameters();
  for (int draw = 0; draw < max_draws; ++draw) {
    for (Eigen::Index k = 0; k < n; ++k) z[k] = eta_rng.normal();
    patient.eta = n > 0 ? Eigen::VectorXd(cholesky.triangularView<Eigen::Lower>() * z) : Eigen::VectorXd();
    patient.parameters = population.individual(patient.eta, patient.covariates, patient.categories);
    bool inside = true;
    for (std::size_t i = 0; i < table.size() && inside; ++i)
      inside = patient.parameters[i] >= table[i].lower && patient.parameters[i] <= table[i].upper &&
               in_domain(table[i].domain, patient.parameters[i]);
    if (inside) return patient;
    ++patient.rejected;
  }
  patient.ok = false;
  return patient;
}

}  // namespace cartpk
