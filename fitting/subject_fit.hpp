#pragma once
// Per-subject fitting: multi-start optimisation of the subject's objective, uncertainty at the optimum,
// optional profiles, and predictions for diagnostics. A cohort is fitted on a pool of threads, each with its
// own solver workspace; results do not depend on the thread count. One subject's failure is recorded in its
// status and never stops the others.
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fitting/objective.hpp"
#include "fitting/optimizer.hpp"
#include "fitting/uncertainty.hpp"

namespace cartpk::fitting {

struct FitOptions {
  OptimizerOptions optimizer;
  std::vector<int> profile;        // model parameter indices to profile (must be estimated)
  // Profile intervals: F small-sample calibration when a residual SD is estimated (the honest default on sparse
  // data), χ² when every error parameter is fixed; or as set.
  std::optional<CiCalibration> ci_calibration;
  bool uncertainty = true;
  Information information = Information::expected;  // the matrix the SEs come from
  int curve_points = 200;          // dense prediction grid for plots, 0 to the last observation × 1.1
};

enum class FitStatus { ok, failed, not_run };

// The calibration the profiles of this set-up use (FitOptions::ci_calibration, or its default).
CiCalibration chosen_calibration(const FitSetup& setup, const FitOptions& options);

struct SubjectFit {
  std::string id;
  FitStatus status = FitStatus::not_run;
  std::string message;                 // "ok", or why it failed / what was flagged
  std::vector<std::string> names;      // estimated parameters: kinetic, then error parameters
  std::vector<double> estimates;       // natural scale
  double ofv = std::nan("");           // total objective (likelihood + prior)
  double ofv_likelihood = std::nan("");
  double ofv_prior = 0.0;
  std::size_t n_obs = 0, n_blq = 0;
  OptimizationResult optimization;
  Uncertainty uncertainty;
  std::vector<Profile> profiles;
  std::vector<RecordPrediction> predictions;  // one per observation, in the subject's order
  std::vector<double> curve_times;
  Eigen::MatrixXd curve;                      // n_times × n_observables at the estimates
  long solves = 0;                            // solver calls for this subject (fit, uncertainty, profiles, curves)
  SolverStats solver_stats;                   // their steps, evaluations and failures, summed
};

// Checks subjects against what the set-up needs, before anything is fitted: DV > 0 for a log-normal observable;
// for a model dosed by records, a dose, its body weight and no observation before it. `source` names the
// dataset in messages (InputError with its line).
void validate_subjects(const FitSetup& setup, const std::vector<Subject>& subjects, const std::string& source);

SubjectFit fit_subject(const FitSetup& setup, const Subject& subject, Solver& solver, const FitOptions& options);

using FitProgress = std::function<void(const SubjectFit&, std::size_t done, std::size_t total)>;

// Fits every subject on `threads` threads (0: all cores). `cancel` (may be null) stops taking new subjects:
// those not started keep status not_run. `progress` is called (serialised) as each subject finishes.
std::vector<SubjectFit> fit_cohort(const FitSetup& setup, const std::vector<Subject>& subjects,
                                   const FitOptions& options, int threads, const FitProgress& progress = {},
                                   const std::atomic<bool>* cancel = nullptr);

}  // namespace cartpk::fitting
