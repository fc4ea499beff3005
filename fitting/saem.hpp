#pragma once
// SAEM internals (fitting/saem.cpp): the algorithm, and the −2LL of its estimates by importance sampling.
#include <vector>

#include "fitting/population_detail.hpp"

namespace cartpk::fitting::detail {

// Conditional moments of each subject's φ given its data, averaged over the smoothing phase's MCMC samples:
// the importance-sampling proposal's centre and scale.
struct ConditionalMoments {
  std::vector<Eigen::VectorXd> mean;
  std::vector<Eigen::MatrixXd> covariance;
};

// The automatic end of SAEM's exploration (as Monolix's auto-stop, with a rule of our own): over a window of the
// last `window` exploration iterations no estimate drifts, i.e. for every component of θ = (μ, β, ln ω², ln σ)
// the means of the window's two halves differ by less than the window's standard deviation. The iterations'
// noise is autocorrelated (the chains move a little at a time), so the rule compares with the spread itself,
// not with a standard error of the mean that this correlation would make too small.
class DriftCheck {
 public:
  explicit DriftCheck(int window) : window_(window) {}  // window < 2: never settled (a fixed exploration)
  void clear() { values_.clear(); }
  void add(Eigen::VectorXd theta);
  [[nodiscard]] bool settled() const;

 private:
  int window_;
  std::vector<Eigen::VectorXd> values_;
};

void run_saem(const PopulationContext& context, PopulationEstimates& estimates, const PopulationOptions& options,
              const PopulationProgress& progress, PopulationFitResult& result, ConditionalMoments& moments);

// −2LL = −2 Σ_i ln ∫ p(y_i|φ) p(φ) dφ by importance sampling from a multivariate t(4) proposal centred on each
// subject's conditional moments (saemix's method); returns the estimate and its Monte Carlo standard error.
std::pair<double, double> importance_sampling_minus2ll(const PopulationContext& context,
                                                       const PopulationEstimates& estimates,
                                                       const ConditionalMoments& moments, int samples,
                                                       unsigned long seed);

}  // namespace cartpk::fitting::detail
