#pragma once
// Model-based virtual trials: a two-stage design (trial/design_evaluate.hpp) run many times on a finite pool of
// virtual patients whose response (deterministic, from their kinetics) and toxicity probability are known.
// Replicate r of scenario s enrols the first n patients of a random permutation of the pool (drawn without
// replacement) and draws each one's toxicity as a Bernoulli event, all from the counter-based stream of
// (seed, r, s), so the results depend on nothing else (not on the thread count). Tallies are integer counts:
// merging them in any order gives identical results.
#include <cstdint>
#include <span>
#include <vector>

#include "pkmodel/cohort.hpp"
#include "trial/design_evaluate.hpp"
#include "trial/joint_outcomes.hpp"
#include "trial/response_rules.hpp"

namespace cartpk::trial {

// The evaluable patients of one scenario, in patient order.
struct TrialPool {
  std::vector<std::uint8_t> responds;  // 1: meets the response rule
  std::vector<double> p_tox;           // probability of a qualifying toxicity
  std::size_t excluded_failed = 0;         // status != 0 in the virtual population (failed or not sampled)
  std::size_t excluded_not_evaluable = 0;  // the toxicity link's metric is NaN
  [[nodiscard]] std::size_t size() const { return responds.size(); }
};

// A scenario's pool from its metric rows (n_patients × n_columns, row-major) and status (0 ok).
TrialPool make_pool(const OutcomeModel& outcomes, std::span<const double> metric_rows, std::size_t n_columns,
                    std::span<const long> status);

// What the pool implies for one patient drawn from it at random.
struct PoolSummary {
  std::size_t patients = 0;
  double p_resp = 0.0;                    // fraction of responders
  double mean_p_tox = 0.0;                // mean toxicity probability
  double mean_p_tox_responders = 0.0;     // E(p_tox | responder); NaN without responders
  double mean_p_tox_nonresponders = 0.0;  // E(p_tox | non-responder); NaN without non-responders
  JointCells cells;                       // P(R, T) of a random patient: p11 = mean(r·p_tox), ...
  double odds_ratio = 0.0;                // p11 p00 / (p10 p01); NaN when a cell is 0
  // Sampling (co)variances of p_resp and mean_p_tox as estimates for the population the pool was drawn from
  // (the pool is a sample of it): Var(r)/N, Var(p_tox)/N, Cov(r, p_tox)/N.
  double var_p_resp = 0.0, var_mean_p_tox = 0.0, cov_resp_tox = 0.0;
};
PoolSummary summarize_pool(const TrialPool& pool);

struct ReplicateOutcome {
  bool stopped_stage1 = false;
  bool success = false;
  int treated = 0;
  int responders = 0;  // among all treated patients
  int toxicities = 0;  // among all treated patients
};

// The random stream of replicate r of scenario s (distinct from the virtual population's patient streams).
inline constexpr std::uint64_t kTrialStream = 0x7472'6961'6c00'0000ULL;  // "trial"

// One replicate. The pool must hold at least design.n patients (std::invalid_argument otherwise).
ReplicateOutcome run_replicate(const ToxicityStopDesign& design, const TrialPool& pool, std::uint64_t seed,
                               std::size_t scenario, std::uint64_t replicate);

struct TrialTally {
  std::uint64_t replicates = 0, stopped_stage1 = 0, successes = 0;
  std::vector<std::uint64_t> responders, toxicities;  // histograms over 0..n
  explicit TrialTally(int n = 0);
  void add(const ReplicateOutcome& outcome);
  void merge(const TrialTally& other);
};

// R replicates of every scenario's pool, on threads (run_cohort); identical for any thread count.
std::vector<TrialTally> simulate_trials(const ToxicityStopDesign& design, const std::vector<TrialPool>& pools,
                                        std::uint64_t seed, std::uint64_t replicates, const CohortOptions& options);

struct Estimate {
  double value = 0.0;
  double se = 0.0;  // Monte-Carlo standard error: binomial for probabilities, SD/sqrt(R) for means
};

struct TrialEstimates {
  Estimate p_stop_stage1, p_success, expected_n, mean_responders, mean_toxicities;
  std::vector<Estimate> responders_distribution, toxicities_distribution;  // P(count = k), k = 0..n
};
TrialEstimates estimate(const ToxicityStopDesign& design, const TrialTally& tally);

// The exact operating characteristics at the pool's marginal rates: independent, and with the pool's own joint
// cells (its association); and a first-order (delta-method) standard error of each that comes from the pool
// being a sample of N patients (odds ratio held fixed).
struct ExactComparison {
  OperatingCharacteristics independent, associated;
  OperatingCharacteristics pool_se;  // standard errors (expected_toxicities: of p_tox · E(N))
};
ExactComparison exact_comparison(const ToxicityStopDesign& design, const PoolSummary& pool);

}  // namespace cartpk::trial
