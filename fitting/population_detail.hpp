#pragma once
// Internals shared by the population methods (fitting/population_fit.cpp, saem.cpp, focei.cpp): the subjects on
// a pool of solver workspaces, each subject's population mean, and the FOCE-I inner problem.
#include <Eigen/Dense>
#include <atomic>
#include <memory>
#include <vector>

#include "fitting/individual_model.hpp"
#include "fitting/population_fit.hpp"
#include "pkmodel/population.hpp"
#include "pkmodel/byte_codec.hpp"
#include "pkmodel/cohort.hpp"
#include "pkmodel/ode_solver.hpp"

namespace cartpk::fitting::detail {

struct InnerSolution;

// Codecs of the per-subject results that cross processes (SubjectExchange); the same bytes on every platform
// the ranks share.
void encode(ByteWriter& out, const std::vector<double>& values);
void decode(ByteReader& in, std::vector<double>& values);
void encode(ByteWriter& out, const std::pair<double, double>& values);
void decode(ByteReader& in, std::pair<double, double>& values);
void encode(ByteWriter& out, const InnerSolution& solution);
void decode(ByteReader& in, InnerSolution& solution);

struct ErrorSlot {  // an estimated residual-error parameter: observable and entry of its parameter_values()
  std::size_t observable = 0;
  int which = 0;
};

// The fixed structure of a fit: subjects, their covariate designs and the random-effect selector.
class PopulationContext {
 public:
  PopulationContext(const PopulationSetup& setup, const std::vector<Subject>& subjects, int threads,
                    const SubjectExchange* exchange = nullptr);

  [[nodiscard]] const PopulationSetup& setup() const { return setup_; }
  [[nodiscard]] const std::vector<Subject>& subjects() const { return subjects_; }
  [[nodiscard]] std::size_t n_subjects() const { return subjects_.size(); }
  [[nodiscard]] Eigen::Index n_phi() const { return static_cast<Eigen::Index>(setup_.base.estimated.size()); }
  [[nodiscard]] Eigen::Index n_eta() const { return static_cast<Eigen::Index>(positions_.size()); }
  [[nodiscard]] const std::vector<int>& eta_positions() const { return positions_; }
  // Whether an estimated parameter moves a model event (stein2019's tmax): the likelihood then has kinks where an
  // event time crosses a sampling time, and a conditional mode often sits on one.
  [[nodiscard]] bool events_move() const { return events_move_; }
  // Estimated error parameters of the observables the subjects have records of.
  [[nodiscard]] const std::vector<ErrorSlot>& error_slots() const { return error_slots_; }

  // Subject i's population mean of φ: μ + C_i·β.
  [[nodiscard]] Eigen::VectorXd mean_phi(std::size_t i, const PopulationEstimates& e) const;
  [[nodiscard]] const Eigen::MatrixXd& design(std::size_t i) const { return designs_[i]; }
  // φ = mean + Z·η, and Zᵀ·v (the random-effect components of a φ-vector).
  [[nodiscard]] Eigen::VectorXd phi(const Eigen::VectorXd& mean, const Eigen::VectorXd& eta) const;
  [[nodiscard]] Eigen::VectorXd eta_part(const Eigen::VectorXd& v) const;

  // A stop request (SIGINT) seen by any process, so that every process stops at the same step.
  [[nodiscard]] bool stop_requested(const std::atomic<bool>* cancel) const {
    const bool mine = cancel && cancel->load();
    return exchange_ ? exchange_->any(mine) : mine;
  }

  // fn(IndividualModel&, i) for every subject: this process's subjects on the thread pool, the others' results
  // received from their processes; in subject order.
  template <class Fn>
  auto map(Fn fn) const {
    using Result = std::invoke_result_t<Fn&, IndividualModel&, std::size_t>;
    std::vector<Result> results(subjects_.size());
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < subjects_.size(); ++i)
      if (!exchange_ || exchange_->owns(i)) mine.push_back(i);
    std::atomic<std::size_t> next_solver{0};
    run_cohort(
        mine, {threads_, nullptr, std::max<std::size_t>(1, mine.size() / (8 * static_cast<std::size_t>(std::max(1, threads_))))},
        [&] { return solvers_[next_solver++].get(); },
        [&](Solver* solver, std::size_t i) {  // one thread at a time holds subject i's model
          IndividualModel& model = models_[i];
          model.use(*solver);
          return fn(model, i);
        },
        [&](std::size_t i, Result&& r) { results[i] = std::move(r); }, [](Solver*) {});
    if (exchange_ && exchange_->distributed()) {
      std::vector<std::vector<std::byte>> own(subjects_.size());
      for (std::size_t i : mine) {
        ByteWriter out;
        encode(out, results[i]);
        own[i] = std::move(out.bytes());
      }
      const auto all = exchange_->exchange(std::move(own));
      for (std::size_t i = 0; i < subjects_.size(); ++i)
        if (!exchange_->owns(i)) {
          ByteReader in(all[i]);
          decode(in, results[i]);
        }
    }
    return results;
  }

 private:
  const PopulationSetup& setup_;
  const std::vector<Subject>& subjects_;
  std::vector<int> positions_;
  std::vector<ErrorSlot> error_slots_;
  bool events_move_ = false;
  std::vector<Eigen::MatrixXd> designs_;
  int threads_;
  const SubjectExchange* exchange_;
  std::vector<std::unique_ptr<Solver>> solvers_;  // one per thread, reused by every map()
  // One per subject, kept between map() calls: its request is built once and its last result reused.
  mutable std::vector<IndividualModel> models_;
};

// The FOCE-I inner problem of one subject: η̂ = argmin L(η) = −2 ln p(y | φ(η)) + ηᵀΩ⁻¹η, by damped Gauss–Newton
// with the FOCE-I Hessian H = Ω⁻¹ + Σ c_j ∇g_j∇g_jᵀ, and the subject's FOCE-I term L(η̂) + ln|Ω| + ln|H|.
struct InnerSolution {
  bool ok = false;
  Eigen::VectorXd eta;
  double objective = 0.0;     // L(η̂)
  double focei = 0.0;         // L(η̂) + ln|Ω| + ln|H|
  Eigen::MatrixXd hessian;    // H (the −ln p scale)
  std::vector<RecordTerms> records;  // at η̂, with ∇g
  int iterations = 0;
};

struct OmegaFactors {
  Eigen::MatrixXd inverse;
  double log_det = 0.0;
  explicit OmegaFactors(const Eigen::MatrixXd& omega);
};

// The best of local searches from the most promising of `starts` (ranked by L). Without `with_records` the
// solution's records stay empty (the outer objective needs only the FOCE-I terms and the modes).
InnerSolution solve_inner(const PopulationContext& context, IndividualModel& model, const Eigen::VectorXd& mean,
                          const OmegaFactors& omega, const std::vector<ErrorModel>& errors,
                          const std::vector<Eigen::VectorXd>& starts, bool with_records = true);

// Candidate starts of subject `subject`'s inner problem: the warm start (last mode), η = 0, and `draws` points from
// N(0, Ω) on a stream fixed by the subject (a thorough search; 0 during the outer iterations).
std::vector<Eigen::VectorXd> inner_starts(const Eigen::VectorXd& warm, const Eigen::MatrixXd& omega, int draws,
                                          std::size_t subject);

}  // namespace cartpk::fitting::detail

namespace cartpk::fitting::detail {

// Diagnostics at the final estimates (fitting/population_diagnostics.cpp).
// Covariance of the population parameters from the linearised expected information (as saemix's FIM): each
// subject's data ≈ N(g(φ̂) + G·(μ_i − φ̂), G·Z·Ω·Zᵀ·Gᵀ + diag R), uncensored records, summed over subjects.
// Order: μ, β, Ω entries (diagonal, or the lower triangle row by row), estimated error parameters (natural scale).
struct LinearisedCovariance {
  Eigen::MatrixXd covariance;  // empty when the information matrix is singular
  std::string status = "ok";
};
LinearisedCovariance linearised_covariance(const PopulationContext& context, const PopulationEstimates& estimates,
                                           const std::vector<InnerSolution>& solutions);

// CWRES of one subject's uncensored records (FOCE linearisation at the conditional mode), NaN for censored ones.
std::vector<double> conditional_weighted_residuals(const PopulationContext& context, const InnerSolution& solution,
                                                   const Eigen::MatrixXd& omega);

}  // namespace cartpk::fitting::detail
