#pragma once
// FOCE-I internals (fitting/focei.cpp): the population parameters as one unconstrained vector ψ for the outer
// optimiser, the FOCE-I −2LL at given estimates, and the outer loop.
#include <utility>
#include <vector>

#include "fitting/population_detail.hpp"

namespace cartpk::fitting::detail {

// ψ = (μ, β, Ω as log ω² (diagonal) or log-Cholesky (full), ln of each estimated error parameter).
struct PsiLayout {
  explicit PsiLayout(const PopulationContext& context);
  Eigen::Index n_phi, n_beta, n_eta;
  bool full;
  std::vector<ErrorSlot> slots;

  [[nodiscard]] Eigen::Index size() const;
  [[nodiscard]] Eigen::VectorXd pack(const PopulationEstimates& estimates) const;
  [[nodiscard]] PopulationEstimates unpack(const Eigen::VectorXd& psi, const PopulationEstimates& like) const;
  [[nodiscard]] std::pair<std::vector<double>, std::vector<double>> bounds(const PopulationSetup& setup) const;
};

struct FoceiTerms {
  double minus2ll = 0.0;                 // Σ_i FOCE-I term (with the 2π constants)
  std::vector<InnerSolution> solutions;  // per subject
  std::vector<std::size_t> failed;       // subjects whose inner problem found no feasible η
};

// FOCE-I at the estimates; `etas` warm-starts the inner problems and returns their modes. `search_draws` > 0
// adds that many starts from N(0, Ω) per subject (a thorough search for the best mode). Without `with_records` the
// solutions carry no per-record terms (the outer optimiser's evaluations).
FoceiTerms focei_terms(const PopulationContext& context, const PopulationEstimates& estimates,
                       std::vector<Eigen::VectorXd>& etas, int search_draws = 0, bool with_records = true);

inline constexpr int kThoroughSearch = 24;  // starts per subject at the first and the final evaluation

// Minimises the FOCE-I −2LL; `etas` returns the subjects' modes at the optimum (warm starts for the final search).
void run_focei(const PopulationContext& context, PopulationEstimates& estimates, const PopulationOptions& options,
               const PopulationProgress& progress, PopulationFitResult& result, std::vector<Eigen::VectorXd>& etas);

}  // namespace cartpk::fitting::detail
