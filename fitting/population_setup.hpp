#pragma once
// What a population (NLME) fit estimates. Each estimated parameter p has an individual value on its estimation
// scale (log for positive parameters, logit for fractions, identity for real ones; fitting/transforms):
//   φ_i = μ + Σ_c β_c·x_c(subject i) + η_i,   η_i ~ N(0, Ω) on the parameters with random effects,
// so a log-scale parameter is log-normal around its typical value T⁻¹(μ), with power (x = ln(cov/ref)),
// exponential (x = cov − ref) or categorical (x = 1 for one level, else 0) covariate effects.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "fitting/objective.hpp"
#include "pkmodel/population.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::fitting {

enum class EffectForm { power, exponential, categorical };

struct CovariateEffect {
  int parameter = -1;      // model parameter index; must be estimated
  std::string covariate;   // dataset column, e.g. "WT" or "PRODUCT"
  EffectForm form = EffectForm::power;
  double reference = 0.0;  // power/exponential: the reference value (default: the cohort's median)
  std::string level;       // categorical: the level coded 1 (the others 0)
  double initial = 0.0;    // starting coefficient
};

struct PopulationSetup {
  FitSetup base;                    // model, solver, typical starting values, estimated parameters, bounds, errors
  std::vector<int> random_effects;  // model parameter indices with η (each estimated)
  Eigen::MatrixXd omega;            // starting Ω over random_effects (log/logit scale)
  bool omega_full = false;          // estimate the correlations too (else Ω is diagonal)
  std::vector<CovariateEffect> effects;
};

// Position of each random effect among the estimated parameters (the selector Z of φ = … + Z·η).
std::vector<int> random_effect_positions(const PopulationSetup& setup);

// The covariate design of one subject: n_estimated × n_effects, x_c in row of the parameter it acts on.
Eigen::MatrixXd covariate_design(const PopulationSetup& setup, const Subject& subject);

// Fills defaulted references (cohort median) and checks the set-up against the subjects; InputError naming the
// option (--iiv, --covariate) or the subject and column otherwise.
void prepare_population_setup(PopulationSetup& setup, const std::vector<Subject>& subjects, const std::string& source);

// The fitted population as the library's population model (vpop samples it): typical values, Ω, relations, and
// the subjects' observed proportions of each level of a covariate a categorical relation uses.
PopulationModel to_population_model(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                                    const Eigen::VectorXd& mu, const Eigen::VectorXd& beta, const Eigen::MatrixXd& omega);

std::string effect_form_name(EffectForm form);

}  // namespace cartpk::fitting
