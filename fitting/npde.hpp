#pragma once
// Prediction discrepancies (pd) and normalised prediction distribution errors (npde) of a population fit (Brendel
// et al. 2006; Comets, Brendel & Mentré 2008; the npde R package, whose defaults these follow). Each subject's
// observed design is simulated K times from the fitted population (η ~ N(0, Ω̂), covariates as observed, the
// residual error); per record pd = the fraction of simulated values below the observation; for npde the observed
// and simulated vectors are first decorrelated by the Cholesky factor of the simulations' empirical covariance.
// A fraction of 0 or 1 becomes 1/(2K) or 1 − 1/(2K); npde = Φ⁻¹(pde). Values are on the residual's scale (ln for
// a log-normal error), where the covariance decorrelates best; pd and npde are rank-based, so only npde sees it.
// BLQ records by the npde package's 'cdf' method (Nguyen et al. 2012): a censored record's pd is drawn uniformly
// in [0, P(Y < LLOQ)] from the simulations, its value imputed as that quantile of the simulated values, and
// simulated values below their record's LLOQ are imputed the same way before decorrelating.
// Replicate k of subject i draws from PatientRng(seed, i, kNpdeStream + k) and the imputations from one further
// stream of subject i, so the result depends on the seed only, never on the thread count.
#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "fitting/population_fit.hpp"

namespace cartpk {
class PatientRng;
}

namespace cartpk::fitting {

inline constexpr std::uint64_t kNpdeStream = std::uint64_t{0x16} << 40;            // replicate k: + k
inline constexpr std::uint64_t kNpdeImputationStream = std::uint64_t{0x17} << 40;  // BLQ imputations

// One subject's discrepancies, per record in the subject's order.
struct SubjectDiscrepancies {
  std::vector<double> pd, npde;  // NaN when not computed; npde also NaN when the simulations' covariance is singular
  int failed_simulations = 0;    // replicates whose solve failed, left out (K is then the replicates that succeeded)
  bool decorrelated = true;      // false: the simulated covariance had no Cholesky factor (npde NaN, pd given)
};

// pd and npde of one observed vector against `simulated` (K × n, one replicate per row), all on the residual's
// scale; `lloq` per record (NaN: none); censored records hold their LLOQ. `imputation` draws the BLQ imputations.
SubjectDiscrepancies discrepancies_from_simulations(const Eigen::VectorXd& observed, const std::vector<char>& censored,
                                                    const Eigen::VectorXd& lloq, Eigen::MatrixXd simulated,
                                                    PatientRng& imputation);

struct NpdeOptions {
  int samples = 1000;  // K
  std::uint64_t seed = 1;
  int threads = 0;     // 0: all cores
};

// The discrepancies of every subject at fixed population estimates (fit_population calls the context version).
std::vector<SubjectDiscrepancies> prediction_discrepancies(const PopulationSetup& setup,
                                                          const std::vector<Subject>& subjects,
                                                          const PopulationEstimates& estimates,
                                                          const NpdeOptions& options);

// Φ⁻¹(p) to double precision (Acklam's approximation, one Halley step on erfc).
double normal_quantile(double p);

namespace detail {
class PopulationContext;
// On the context's threads (and MPI ranks), subject i's numbers depending on (seed, i) only.
std::vector<SubjectDiscrepancies> prediction_discrepancies(const PopulationContext& context,
                                                          const PopulationEstimates& estimates, int samples,
                                                          std::uint64_t seed);
}  // namespace detail

}  // namespace cartpk::fitting
