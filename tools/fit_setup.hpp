#pragma once
// The set-up shared by `fit`, `popfit` and `vpc`: one reading of the model, data, estimates, fixed values,
// bounds, error models and priors, so an analysis file means the same to each command. The options are registered
// once (add_setup_options) and interpreted once (prepare_fit), before anything is fitted.
#include <optional>
#include <string>
#include <vector>

#include "fitting/subject_fit.hpp"
#include "io/dataset.hpp"
#include "pkmodel/ode_solver.hpp"

namespace CLI {
class App;
}

namespace cartpk::cli {

struct FitCliOptions {
  std::string model, data, estimate, prior, iiv = "variance", profile, ids, solution, out, table;
  std::string ci_calibration = "auto";  // profile intervals: auto, chi2 or f
  std::string information = "expected";  // the matrix the SEs come from: expected or observed
  io::DatasetChoices dataset;         // --dvid, --sep, --ignore, --accept
  std::string warnings = "summary";   // --warnings: summary, all or none
  std::vector<std::string> fix, init, error, bounds;
  int starts = 10, threads = 0, maxeval = 4000;
  std::optional<int> kink_scan;  // unset: the optimiser's choice (piecewise models 1, smooth ones 0)
  unsigned long seed = 1;
  bool quiet = false;
  SolverOptions solver{.rtol = fitting::kFitRtol};  // --rtol, --atol-scale
};

// Everything a fit needs, read and checked before any fitting (on every MPI rank alike).
struct PreparedFit {
  fitting::FitSetup setup;
  fitting::FitOptions fit_options;
  std::vector<Subject> subjects;
  std::string prior_description;
};

// --model, --data, --estimate, --fix, --init, --bounds, --error, --ids, the dataset options, --solution and the
// solver options, on any command that fits.
void add_setup_options(CLI::App& command, FitCliOptions& options);

// Reads and checks everything (output paths --out and --table included); InputError naming the option or file.
PreparedFit prepare_fit(const FitCliOptions& options);

}  // namespace cartpk::cli
