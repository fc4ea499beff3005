#pragma once
// One subject's likelihood as a function of its individual parameters φ (the estimated parameters on their
// estimation scale), with what the population methods linearise: per record the prediction on the residual's
// scale g (ln f for a log-normal error, f otherwise), its gradient in φ (from the solver's sensitivities), the
// residual variance R and the curvature weight c of the record in the FOCE-I Hessian H = Σ c·∇g∇gᵀ (+ Ω⁻¹).
#include <Eigen/Dense>
#include <limits>
#include <vector>

#include "fitting/error_model.hpp"
#include "fitting/transforms.hpp"
#include "pkmodel/simulation.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::fitting {

struct FitSetup;

struct RecordTerms {
  double f = 0.0;          // prediction (natural scale)
  double g = 0.0;          // prediction on the residual's scale
  double y = 0.0;          // observation on that scale (the LLOQ for a censored record)
  double variance = 0.0;   // R: residual variance on that scale
  double weight = 0.0;     // c: FOCE-I curvature weight (1/R + ½(dR/dg)²/R², or the M3 term's for censored)
  double d_minus2ll = 0.0; // d(−2 ln p)/dg
  double minus2ll = 0.0;   // −2 ln p of the record (M3 for a censored one)
  bool censored = false;
  Eigen::VectorXd dg;      // ∇_φ g (empty unless derivatives were asked for)
};

class IndividualModel {
 public:
  IndividualModel(const FitSetup& setup, const Subject& subject, Solver& solver);
  // Solves with `solver` from now on (a population fit keeps one model per subject and lends it the thread's
  // workspace): the request and the last result stay, so a repeated solve reuses them.
  void use(Solver& solver) { solver_ = &solver; }

  [[nodiscard]] std::size_t n_parameters() const { return transforms_.size(); }
  [[nodiscard]] std::size_t n_observations() const { return subject_.observations.size(); }
  [[nodiscard]] const Subject& subject() const { return subject_; }

  // Model parameter vector at φ.
  [[nodiscard]] std::vector<double> model_parameters(const Eigen::VectorXd& phi) const;

  // −2 ln p(y | φ) with the 2π terms (M3 for censored records); +∞ when the model rejects φ or fails to solve.
  double minus2ll(const Eigen::VectorXd& phi, const std::vector<ErrorModel>& errors);
  // The same, filling each record's terms; with `derivatives` also ∇g (one sensitivity solve).
  double evaluate(const Eigen::VectorXd& phi, const std::vector<ErrorModel>& errors, bool derivatives,
                  std::vector<RecordTerms>& records);
  // Predictions f of every record at φ (NaN when the model fails there), into `out` (resized to the records).
  void predictions(const Eigen::VectorXd& phi, std::vector<double>& out);
  std::vector<double> predictions(const Eigen::VectorXd& phi) {
    std::vector<double> out;
    predictions(phi, out);
    return out;
  }

  [[nodiscard]] long solves() const { return solves_; }

 private:
  enum class Output { values, derivatives, values_only };  // values_only: Solver::solve_values (predictions)
  bool solve(const Eigen::VectorXd& phi, Output output);     // false: rejected or failed

  const FitSetup& setup_;
  const Subject& subject_;
  Solver* solver_;
  std::vector<Transform> transforms_;
  std::vector<std::size_t> time_index_;  // observation -> row of the solve
  SimulationRequest request_;
  SimulationResult result_;
  std::vector<double> df_;          // scratch: ∂f/∂φ of one record
  std::vector<double> log_values_;  // ln of each observation (NaN where not positive), kept for log-normal records
  long solves_ = 0;
};

// Every model parameter at φ: the set-up's values with the estimated ones from φ.
std::vector<double> parameters_at(const FitSetup& setup, const Eigen::VectorXd& phi);

// A record's terms from its prediction f (and ∂f/∂φ when given): the one place the residual scale is decided.
// Filled in place, so a record's ∇g keeps its storage from one evaluation to the next.
// `log_value`: ln of the observation when the caller keeps it (NaN: computed here).
void record_terms(const ErrorModel& error, const Observation& obs, double f, const double* df, int n_phi, RecordTerms& r,
                  double log_value = std::numeric_limits<double>::quiet_NaN());
inline RecordTerms record_terms(const ErrorModel& error, const Observation& obs, double f, const double* df, int n_phi) {
  RecordTerms r;
  record_terms(error, obs, f, df, n_phi, r);
  return r;
}

}  // namespace cartpk::fitting
