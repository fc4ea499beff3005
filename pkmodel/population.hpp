#pragma once
// The population parameter model, one for the whole library: typical values, log-normal between-patient
// variability (Ω on the log scale, full or diagonal), covariate relations, how categorical covariates are
// distributed, and time-fixed covariates per subject.
// `cartpk vpop` samples it, a population fit estimates it, a per-patient fit can be turned into it, and io writes
// and reads it in one place (io/population_file). Sampling draws each patient from its own random stream,
// derived from (seed, patient index), so results never depend on the thread or MPI rank count.
#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"

namespace cartpk {

using Covariates = std::map<std::string, double>;  // e.g. {"WT": 72.5}; typed per subject, not per record
using Categories = std::map<std::string, std::string>;  // text covariates, e.g. {"PRODUCT": "CD19"}

// A relation shifts the parameter by coefficient·x on its estimation scale, as a population fit estimates it
// (φ = μ + β·x): for a positive parameter p = p_typ·exp(coefficient·x), for a fraction on the logit scale.
enum class CovariateForm {
  power,        // x = ln(cov / reference): p = p_typ · (cov / reference)^coefficient
  exponential,  // x = cov − reference: p = p_typ · exp(coefficient · (cov − reference))
  categorical,  // x = 1 for a subject of `level`, else 0: p = p_typ · exp(coefficient) for that level
};

struct CovariateRelation {
  int parameter = -1;
  std::string covariate;  // e.g. "WT" or "PRODUCT"
  CovariateForm form = CovariateForm::power;
  double reference = 70.0;
  double coefficient = 0.0;
  std::string level;      // categorical: the level the coefficient applies to (the others are the reference)
};

// How a continuous covariate is drawn for a virtual patient: log-normal with a median and a CV, truncated.
struct CovariateDistribution {
  std::string name = "WT";
  std::string unit = "kg";
  double median = 70.0;
  double cv = 0.2;                   // coefficient of variation; the log-SD is sqrt(log(1 + cv²))
  double lower = 40.0, upper = 150.0;  // the trial's adult range (rejection outside)
  std::vector<double> empirical;     // when given: drawn uniformly from these values (e.g. a dataset's WT)
  std::string source = "log-normal";
};

// How a categorical covariate is distributed among patients (a population fit's observed proportions), so a virtual
// patient's level can be drawn: levels sorted, probabilities summing to 1.
struct CategoryDistribution {
  std::string name;  // e.g. "LD" or "PRODUCT"
  std::vector<std::string> levels;
  std::vector<double> probabilities;  // one per level
};

// How a random effect η enters its parameter: log p = log typical + η (log-normal), logit p = logit typical + η
// (a fraction, as a population fit estimates it), or p = typical + η (a parameter of domain real).
enum class EtaScale { log, logit, additive };
EtaScale eta_scale_for(Domain domain);  // the scale a population fit estimates η on
const char* eta_scale_name(EtaScale scale);
const char* covariate_form_name(CovariateForm form);  // power, exponential, categorical

// A subject's level of a categorical covariate: its text value, or a numeric code written as an integer ("1");
// empty when the subject has neither. The one rule a population fit and its simulations share.
std::optional<std::string> category_of(const std::string& covariate, const Covariates& covariates,
                                       const Categories& categories);

struct PopulationModel {
  const Model* model = nullptr;
  std::vector<double> typical;           // one value per model parameter (table order)
  std::vector<int> random_effects;       // parameters with log-normal IIV: p = typical · exp(η)
  Eigen::MatrixXd omega;                 // covariance of η (on eta_scales), random_effects.size() squared
  std::vector<CovariateRelation> relations;
  std::string source;                    // where Ω came from: "published", a file, a fit
  // An empirical population instead of Ω (e.g. a per-patient fit's estimates): each virtual patient is one of
  // these parameter vectors, drawn uniformly with replacement (a bootstrap of the cohort).
  std::vector<std::vector<double>> empirical;
  std::vector<EtaScale> eta_scales;      // per random effect; empty: all log (IIV files, published ω²)
  std::vector<CategoryDistribution> categories;  // categorical covariates vpop draws (last: keeps aggregate inits)

  // Individual parameters from η (one per random effect), covariates and the subject's categorical levels.
  // (Scenarios: scenario_parameters.) InputError when a relation's covariate is missing.
  [[nodiscard]] std::vector<double> individual(const Eigen::VectorXd& eta, const Covariates& covariates,
                                               const Categories& levels = {}) const;
  // Throws InputError (naming `origin`) when a categorical relation's covariate has no distribution in
  // `categories`: a virtual patient's level could not be drawn.
  void require_category_distributions(const std::string& origin) const;
  // Throws InputError (naming `origin`) when Ω is not symmetric positive definite or an IIV parameter's domain or
  // typical value forbids log-normal variability.
  void validate(const std::string& origin) const;
};

// A patient's parameters under a scenario: each parameter scaled by the scenario's change of its typical value
// (p·typical_scenario/typical_base), or the scenario's value where the base typical value is 0. For log-normal IIV
// this equals typical_scenario·covariate effects·exp(η); for an empirical patient it shifts their values alike.
std::vector<double> scenario_parameters(const std::vector<double>& individual, const std::vector<double>& typical_base,
                                        const std::vector<double>& typical_scenario);
// The same into `out` (resized; no allocation when it has the room).
void scenario_parameters(const std::vector<double>& individual, const std::vector<double>& typical_base,
                         const std::vector<double>& typical_scenario, std::vector<double>& out);

// The model's published IIV (iiv_omega2 in its table), diagonal; InputError when it has none.
PopulationModel published_population(const Model& model);

// A counter-based stream: patient k of a run with seed s draws from splitmix64 seeded with a hash of (s, k), so
// a patient's numbers depend on nothing but (s, k).
class PatientRng {
 public:
  PatientRng(std::uint64_t seed, std::uint64_t patient, std::uint64_t stream = 0);
  std::uint64_t next_u64();
  double uniform();   // in (0, 1)
  double normal();    // standard normal (Box–Muller, both values used)

 private:
  std::uint64_t state_;
  double spare_ = 0.0;  // Box–Muller's second value
  bool has_spare_ = false;
};

// One virtual patient: covariates, η and the individual parameters, or why none could be drawn in the bounds.
struct SampledPatient {
  Covariates covariates;
  Categories categories;    // a level of each of the population's categorical covariates
  Eigen::VectorXd eta;
  std::vector<double> parameters;
  int rejected = 0;         // draws rejected for leaving the model's parameter bounds
  bool ok = true;
};

// Draws patient `index`: covariates from their distributions, a level of each categorical covariate, then η ~ N(0, Ω) redrawn (up to max_draws) until
// every individual parameter is inside the model table's bounds (rejection: the distribution truncated to the
// bounds). `cholesky` is the lower Cholesky factor of Ω (compute once with omega_cholesky).
Eigen::MatrixXd omega_cholesky(const PopulationModel& population);
SampledPatient sample_patient(const PopulationModel& population, const Eigen::MatrixXd& cholesky,
                              const std::vector<CovariateDistribution>& covariates, std::uint64_t seed,
                              std::uint64_t index, int max_draws = 1000);

}  // namespace cartpk
