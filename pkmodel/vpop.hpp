#pragma once
// Virtual populations: sample patients from a PopulationModel, run every patient through every scenario (same
// patient, same random numbers), and summarise per scenario: prediction bands of every observable on the output
// grid, quantiles of every metric, the fraction of patients reaching each event by day. Per-patient results are
// handed on as they finish (for streaming output); summaries are mergeable sketches and counts, so they are
// bit-identical whatever the split over threads or MPI ranks.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pkmodel/byte_codec.hpp"
#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/population.hpp"
#include "pkmodel/quantile_sketch.hpp"
#include "pkmodel/scenario.hpp"

namespace cartpk {

struct VpopSettings {
  std::size_t n_patients = 0;
  std::uint64_t seed = 1;
  std::vector<double> times_day;
  std::vector<Scenario> scenarios;                 // at least one
  metrics::MetricSettings metrics;
  std::vector<double> quantile_levels{0.05, 0.25, 0.5, 0.75, 0.95};
  std::size_t keep_trajectories = 0;               // the first M patients' full curves
  std::string method = "ode";                      // "ode" or "closed"
  SolverOptions solver;
  std::vector<CovariateDistribution> covariates{CovariateDistribution{}};
  double band_accuracy = 1e-2;                     // relative accuracy of the bands' quantiles (sketch α)
  double band_zero = 1e-12;                        // band values below this (in the observable's unit) count as 0
};

enum class PatientStatus : int { ok = 0, solver_failed = 1, not_sampled = 2 };

struct PatientResult {
  std::size_t index = 0;
  SampledPatient sample;                            // covariates, η, individual parameters (before scenarios)
  std::vector<PatientStatus> status;                // per scenario
  std::vector<std::string> messages;                // per scenario once one failed (else none): empty when ok
  std::vector<double> metric_values;                // scenario-major: n_scenarios × metric columns
  std::vector<Eigen::MatrixXd> trajectories;        // per scenario (n_times × n_observables), kept patients only

  // One scenario's metrics, one value per metric column. (One flat vector: a patient is a few allocations, which
  // matters when a closed-form model simulates 100,000 patients a second and another thread frees them.)
  [[nodiscard]] std::span<const double> metrics(std::size_t scenario) const {
    const std::size_t width = status.empty() ? 0 : metric_values.size() / status.size();
    return {metric_values.data() + scenario * width, width};
  }
  [[nodiscard]] std::span<double> metrics(std::size_t scenario) {
    const std::size_t width = status.empty() ? 0 : metric_values.size() / status.size();
    return {metric_values.data() + scenario * width, width};
  }
  [[nodiscard]] std::string_view message(std::size_t scenario) const {  // empty when ok
    return scenario < messages.size() ? std::string_view(messages[scenario]) : std::string_view();
  }
  void fail(std::size_t scenario, PatientStatus why, std::string message);
};

// Fraction-of-patients curves over the grid: by day t, how many had reached an event (cumulative), or were in a
// state (e.g. B-cell aplasia) at t.
struct EventCurve {
  std::string name, meaning;
  std::vector<std::uint64_t> count;  // per output time
};

struct ScenarioSummary {
  std::vector<QuantileSketch> bands;     // observable-major: bands[j·n_times + k]
  std::vector<EventCurve> events;
  std::uint64_t simulated = 0, failed = 0;
  // Curves waiting to enter the band sketches: adding a block of patients one band point at a time keeps each
  // sketch in cache (adds in any grouping give the same sketch).
  std::vector<Eigen::MatrixXd> pending;  // the first n_pending hold curves, n_pending ≤ block
  std::size_t n_pending = 0, block = 0;  // block: set by the first take_curve
  std::vector<double> columns;           // flush_pending's scratch: a group of bands, band-major
  // Every ok patient's metrics, per metric column, kept where the patients are delivered (rank 0) for exact
  // quantiles; not merged between threads or ranks.
  std::vector<std::vector<double>> metric_values;

  // Adds a curve (n_times × n_observables) to the bands, taking its storage: `observables` is left holding a
  // buffer of the same size and unspecified values (a pending block's spare), so a solver can reuse it.
  void take_curve(Eigen::MatrixXd& observables);
  void flush_pending();
  void merge(const ScenarioSummary& other);            // both flushed; bands, events and counts
  void merge(ScenarioSummary&& other);                 // the same; takes the other's sketches when this has none
  void add_metrics(std::span<const double> values);
  // Quantiles (linear interpolation between order statistics, NumPy's default) of each metric over the patients
  // where it is defined (NaN excluded): n_metrics × levels.size(); NaN where no patient reached it.
  // `threads`: columns computed in parallel (the same numbers).
  [[nodiscard]] std::vector<double> metric_quantiles(const std::vector<double>& levels, unsigned threads = 1) const;
  [[nodiscard]] std::size_t metric_count(std::size_t column) const;
};

// Exact quantile of `values` (sorted in place) at level q: NumPy's 'linear' method; NaN when empty.
double linear_quantile(std::vector<double>& values, double q);
double sorted_linear_quantile(const std::vector<double>& sorted, double q);  // the same, on sorted values

// Exact round trips for the trip between MPI ranks.
void encode(ByteWriter& out, const PatientResult& patient);
PatientResult decode_patient(ByteReader& in);
void encode(ByteWriter& out, const std::vector<ScenarioSummary>& summaries);
// Merges encoded summaries into `totals` (the same scenarios, bands and events), reading one sketch at a time.
void merge_encoded(ByteReader& in, std::vector<ScenarioSummary>& totals);

class VirtualPopulation;

// What simulate() reuses from patient to patient on one thread (the request and the solution's buffers).
struct VpopScratch {
  SimulationRequest request;
  SimulationResult solution;
  const VirtualPopulation* owner = nullptr;  // the population whose grid `request` holds
};

class VirtualPopulation {
 public:
  // Validates the scenarios against the model (InputError naming each scenario's origin).
  VirtualPopulation(PopulationModel population, VpopSettings settings);

  [[nodiscard]] const PopulationModel& population() const { return population_; }
  [[nodiscard]] const VpopSettings& settings() const { return settings_; }
  [[nodiscard]] const std::vector<metrics::MetricColumn>& metric_columns() const { return columns_; }
  [[nodiscard]] const std::vector<ResolvedScenario>& resolved() const { return resolved_; }

  [[nodiscard]] std::unique_ptr<Solver> make_workspace_solver() const;
  [[nodiscard]] std::vector<ScenarioSummary> empty_summaries() const;
  // Patient `index` in every scenario, added to `summaries` (one per scenario). Never throws for a solver failure.
  PatientResult simulate(Solver& solver, std::size_t index, std::vector<ScenarioSummary>& summaries) const;
  // The same, reusing the thread's scratch (no allocation for the solution).
  PatientResult simulate(Solver& solver, VpopScratch& scratch, std::size_t index,
                         std::vector<ScenarioSummary>& summaries) const;

 private:
  PopulationModel population_;
  VpopSettings settings_;
  Eigen::MatrixXd cholesky_;
  std::vector<ResolvedScenario> resolved_;
  std::vector<metrics::MetricColumn> columns_;
  int bcell_ = -1;
  std::vector<int> event_metrics_;  // metric columns that are event days (aplasia start, recovery)
};

}  // namespace cartpk
