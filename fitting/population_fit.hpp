#pragma once
// Population (NLME) fitting: SAEM (stochastic approximation EM with MCMC for the individual parameters, as in
// Monolix, saemix and nlmixr2) and FOCE-I (NONMEM's first-order conditional estimation with interaction), on one
// set-up (fitting/population_setup.hpp) and one result. Both handle BLQ records by M3; both end with the same
// empirical-Bayes estimates (conditional modes), linearised standard errors, shrinkage, CWRES and NPDE. Subjects' inner
// problems run on threads; each subject's numbers depend only on its index, never on the thread count.
#include <Eigen/Dense>
#include <atomic>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fitting/individual_model.hpp"
#include "fitting/population_setup.hpp"

namespace cartpk::fitting {

// A population fit that cannot proceed (e.g. a subject without any feasible individual parameters).
class EstimationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class PopulationMethod { saem, focei };
std::string method_name(PopulationMethod method);

// Population parameters. μ: typical values on the estimation scale (one per estimated parameter).
struct PopulationEstimates {
  Eigen::VectorXd mu;
  Eigen::VectorXd beta;          // covariate coefficients, in the set-up's effect order
  Eigen::MatrixXd omega;         // Ω over the random effects
  std::vector<ErrorModel> errors;
};

// How subjects' results travel between processes (MPI ranks). Every process runs the same algorithm; at each step
// it computes the subjects it owns and exchange() gives it every subject's encoded result, in subject order. The
// base class is one process that owns every subject. (parallel/ implements it over MPI; fitting never sees MPI.)
class SubjectExchange {
 public:
  virtual ~SubjectExchange() = default;
  [[nodiscard]] virtual bool distributed() const { return false; }
  [[nodiscard]] virtual bool owns(std::size_t /*subject*/) const { return true; }
  // `own[i]` is subject i's encoding where this process owns i (empty elsewhere); returns all of them.
  [[nodiscard]] virtual std::vector<std::vector<std::byte>> exchange(std::vector<std::vector<std::byte>> own) const {
    return own;
  }
  // Collective: true when any process passes true (a stop request seen by one rank stops all at the same step).
  [[nodiscard]] virtual bool any(bool flag) const { return flag; }
};

struct PopulationOptions {
  PopulationMethod method = PopulationMethod::saem;
  int threads = 0;                // 0: all cores
  unsigned long seed = 1;
  // SAEM: burn-in (no update), exploration (step 1, with simulated annealing of Ω for its first half), smoothing (1/k).
  int saem_burn_in = 5, saem_explore = 300, saem_smooth = 100;  // saem_explore: the most, with the automatic stop
  // The exploration ends early once its estimates no longer drift over a window of this many iterations, and
  // annealing once it holds no variance up (saem.cpp, docs/population.md); false: saem_explore iterations.
  bool saem_auto_stop = true;
  int saem_stop_window = 50;
  int saem_chains = 0;            // 0: ⌈50/N⌉ chains per subject (saemix's rule), at least 1
  int kernel_steps[3] = {2, 2, 2};  // prior draws, joint random walk, component-wise random walk per iteration
  double annealing = 0.97;        // Ω may shrink by at most this factor per iteration during annealing
  int importance_samples = 1000;  // −2LL of an SAEM fit by importance sampling (0: skip)
  int npde_samples = 1000;        // replicates per subject behind pd and npde (fitting/npde.hpp; 0: skip)
  // FOCE-I outer problem (NLopt BOBYQA on the population parameters).
  int focei_max_evaluations = 3000;
  double focei_ftol_abs = 1e-5;   // on the −2LL: another outer pass runs only if the last one gained more than 10×
  const std::atomic<bool>* cancel = nullptr;  // SIGINT: stop after the current iteration, result marked partial
  const SubjectExchange* exchange = nullptr;  // MPI ranks; null: this process does every subject
};

struct PopulationIteration {
  int iteration = 0;
  std::string phase;              // burn-in, explore, smooth, focei
  double objective = 0.0;         // SAEM: −2 ln p(y, φ) of the current chains' state; FOCE-I: the −2LL
  Eigen::VectorXd mu;
};
using PopulationProgress = std::function<void(const PopulationIteration&)>;

struct SubjectEstimate {
  std::string id;
  bool ok = true;
  std::string message = "ok";
  Eigen::VectorXd eta;               // conditional mode (EBE), one per random effect
  std::vector<double> parameters;    // every model parameter at the EBE
  double focei_contribution = 0.0;   // this subject's FOCE-I −2LL term at the final estimates
  // Per observation, in the subject's order (CWRES and IWRES NaN for a censored record; pd and npde NaN when not
  // computed, npde also when the subject's simulated covariance is singular).
  std::vector<double> pred, ipred, iwres, cwres, pd, npde;
};

struct PopulationParameter {  // one row of the population table
  std::string name;       // e.g. "cmax", "omega2_cmax", "omega_cmax_tmax", "beta_cmax_WT", "sigma_qpcr"
  std::string kind;       // typical, beta, omega, error
  double estimate = 0.0;  // natural scale (typical value, coefficient, variance/covariance, SD)
  double se = std::nan("");
};

struct PopulationFitResult {
  PopulationMethod method = PopulationMethod::saem;
  PopulationEstimates estimates;
  std::vector<PopulationParameter> parameters;
  double minus2ll = std::nan("");       // with the 2π terms
  std::string minus2ll_method;          // "FOCE-I approximation" or "importance sampling (N samples)"
  double minus2ll_se = std::nan("");    // Monte Carlo SE of the importance-sampling estimate
  double ofv_nonmem = std::nan("");     // −2LL without the n·ln 2π of the uncensored records (NONMEM's OFV)
  double aic = std::nan(""), bic = std::nan("");
  std::vector<double> shrinkage_sd;     // per random effect, % (1 − sd(η̂)/ω)
  std::vector<SubjectEstimate> subjects;
  std::vector<PopulationIteration> trace;
  bool saem_auto_stop = false;
  int saem_burn_in_iterations = 0, saem_explore_iterations = 0, saem_annealing_iterations = 0;  // as run (the
                                                                      // automatic stop may end them early)
  std::size_t n_observations = 0, n_censored = 0;
  int npde_samples = 0;                 // K behind pd and npde (0: not computed)
  long npde_failed_simulations = 0;     // replicates left out because the model failed there
  std::size_t npde_singular_subjects = 0;  // subjects with pd but no npde (their simulations' covariance is singular)
  bool interrupted = false;
  std::string covariance_status = "ok";  // or why SEs are missing
  double seconds = 0.0;
};

PopulationFitResult fit_population(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                                   const PopulationOptions& options, const PopulationProgress& progress = {});

// Starting estimates from the set-up (typical values, β, Ω, error models).
PopulationEstimates initial_estimates(const PopulationSetup& setup);

// FOCE-I −2LL (with the 2π terms) at fixed population estimates, the subjects' EBEs found by the inner problem;
// `etas` (optional, in/out) warm-starts and returns them. Tests compare it with published NONMEM values.
double focei_minus2ll(const PopulationSetup& setup, const std::vector<Subject>& subjects,
                      const PopulationEstimates& estimates, int threads, std::vector<Eigen::VectorXd>* etas = nullptr);

}  // namespace cartpk::fitting
