#pragma once
// The objective of a per-subject fit: OFV = −2·log-likelihood of the subject's records (every error model,
// BLQ by M3), plus, for MAP fitting, −2·log of log-normal priors. Its exact gradient comes from the solver's
// forward sensitivities (or the closed form's automatic derivatives) by the chain rule through the transforms.
// The optimiser sees z: the estimated kinetic parameters on their unconstrained scale (log/logit), then the
// estimated error parameters on the log scale.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fitting/error_model.hpp"
#include "fitting/optimizer.hpp"
#include "fitting/transforms.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::fitting {

// Fits solve at this relative tolerance unless told otherwise: the loosest decade whose OFVs stay within 1e-3
// of rtol 1e-12 fits with a tenfold margin on the benchmark and example cohorts (bench/rtol_rule.py;
// docs/fitting.md).
inline constexpr double kFitRtol = 1e-6;

// A log-normal prior on a model parameter: ln θ ~ N(ln typical, omega2).
struct Prior {
  int parameter = -1;  // model parameter index
  double typical = 1.0;
  double omega2 = 1.0;
};

// What is fitted: shared by every subject of a run.
struct FitSetup {
  const Model* model = nullptr;
  std::string method = "ode";                 // "ode" (CVODES) or "closed"
  SolverOptions solver_options;
  std::vector<double> parameters;             // every model parameter: fixed values and starting values
  std::vector<int> estimated;                 // indices of the estimated model parameters
  std::vector<double> lower, upper;           // natural-scale bounds of the estimated parameters
  std::vector<ErrorModel> error_models;       // one per model observable
  std::vector<Prior> priors;                  // MAP fitting when non-empty
};

// A subject's distinct observation times (sorted), and each observation's row among them: one solve covers all.
struct ObservationGrid {
  std::vector<double> times_day;
  std::vector<std::size_t> row;  // per observation, in the subject's order
};
ObservationGrid observation_grid(const Subject& subject);

// The one solve that covers a subject's records: the set-up's parameters, the distinct observation times and, for
// a model dosed by records, the subject's doses; `row` gets each observation's row.
SimulationRequest subject_request(const FitSetup& setup, const Subject& subject, std::vector<std::size_t>& row);

// Log-scale box of error parameter `which` (parameter_values() order) of an error model of this type.
std::pair<double, double> error_bounds(ErrorType type, int which);

// The model's usual fit: its default estimates within its bounds, starting at its defaults, every observable
// with the default error model (log-normal, estimated).
FitSetup default_setup(const Model& model, const std::string& method);

// Checks a set-up (sizes, bounds, starting values inside them); throws InputError naming the parameter.
void validate_setup(const FitSetup& setup);

struct RecordPrediction {
  double ipred = 0.0;            // individual prediction
  double iwres = 0.0;            // weighted residual (log scale for lognormal); NaN for a censored record
  double blq_probability = 0.0;  // censored records: P(Y < LLOQ) at the prediction (M3)
};

class SubjectObjective {
 public:
  SubjectObjective(const FitSetup& setup, const Subject& subject, Solver& solver);

  [[nodiscard]] std::size_t dimension() const { return names_.size(); }
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }  // in z order
  [[nodiscard]] std::vector<double> initial_point() const;
  [[nodiscard]] const std::vector<double>& lower() const { return z_lower_; }
  [[nodiscard]] const std::vector<double>& upper() const { return z_upper_; }
  [[nodiscard]] std::size_t n_kinetic() const { return setup_.estimated.size(); }

  // The whole optimisation problem: this objective and its box.
  Problem problem();

  // OFV at z and, when `gradient` is not null, its gradient. Throws SolverError when the model does not solve.
  double ofv(const std::vector<double>& z, std::vector<double>* gradient);
  double last_likelihood_ofv() const { return last_likelihood_; }
  // Work of the solver so far for this subject: solves, and their steps, evaluations and failures summed.
  [[nodiscard]] long solves() const { return solves_; }
  [[nodiscard]] const SolverStats& solver_totals() const { return solver_totals_; }  // the −2LL part of the last ofv()
  double last_prior_ofv() const { return last_prior_; }            // the prior part (0 without priors)

  [[nodiscard]] std::vector<double> natural(const std::vector<double>& z) const;       // values in z order
  [[nodiscard]] std::vector<double> natural_derivative(const std::vector<double>& z) const;  // d value/d z
  [[nodiscard]] std::vector<double> model_parameters(const std::vector<double>& z) const;    // full vector
  // z of the model's canonical labelling of the point z (same predictions), when that lies in the box.
  [[nodiscard]] std::optional<std::vector<double>> canonical_point(const std::vector<double>& z) const;
  std::vector<RecordPrediction> predictions(const std::vector<double>& z);
  // The expected information at z: E[d²OFV/dz²] (twice the Fisher information), the Gauss–Newton Hessian from one
  // sensitivity solve; each record as record_information() states, each prior by its Gauss–Newton term.
  Eigen::MatrixXd expected_information(const std::vector<double>& z);
  // The OFV, its gradient and the expected information from one solve (Fisher scoring's step).
  double ofv_with_information(const std::vector<double>& z, std::vector<double>& gradient, Eigen::MatrixXd& h);
  // The model's observables on a time grid at z (for plots): n_times × n_observables.
  Eigen::MatrixXd curve(const std::vector<double>& z, const std::vector<double>& times_day);

  [[nodiscard]] std::size_t n_observations() const { return subject_.observations.size(); }
  [[nodiscard]] std::size_t n_censored() const;

 private:
  struct ErrorSlot {  // one estimated error parameter
    std::size_t observable;
    int which;        // index into the error model's parameter_values()
  };
  void apply(const std::vector<double>& z, std::vector<ErrorModel>& errors) const;
  [[nodiscard]] std::optional<std::vector<double>> kink_points(std::size_t k) const;

  void solve(const SimulationRequest& request, SimulationResult& result);  // counts the work
  void information_at_last_solve(Eigen::MatrixXd& h) const;

  const FitSetup& setup_;
  const Subject& subject_;
  Solver& solver_;
  std::vector<Transform> transforms_;  // per estimated kinetic parameter
  std::vector<ErrorSlot> error_slots_;
  std::vector<std::string> names_;
  std::vector<double> z_lower_, z_upper_;
  SimulationRequest request_;
  SimulationResult result_;
  SolverStats solver_totals_;            // over every solve of this subject
  long solves_ = 0;
  std::vector<ErrorModel> errors_;       // error models at the last z
  std::vector<double> dtheta_;           // d natural value / d z at the last z
  std::vector<std::size_t> time_index_;  // observation -> row of the solve
  double last_likelihood_ = 0.0;
  double last_prior_ = 0.0;
};

}  // namespace cartpk::fitting
