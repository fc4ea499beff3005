#pragma once
// Clinically meaningful summary metrics of a CAR-T simulation, computed from whichever observables a model
// has (flow, qpcr, bcell, autoab, hb). One place for the CLI, the HDF5 export, virtual populations and trials.
// A model's columns are fixed by its observables and the settings, never by the simulated horizon: a metric the
// horizon does not reach is NaN, so tables from different horizons line up.
// Peaks and threshold crossings (B-cell aplasia and recovery, qPCR persistence) are located on the solver's
// continuous solution: a peak at a model event (stein2019's
// tmax) exactly, where the solver reports the solution; a smooth peak or crossing between outputs on the cubic
// Hermite interpolant of the outputs and the solver's dy/dt there (ODE path; not across a dose or an event).
// AUC and the late read-outs use the outputs (linear).
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"
#include "pkmodel/simulation.hpp"

namespace cartpk::metrics {

struct MetricSettings {
  double auc_end_day = 28.0;         // AUC over days 0 to this
  double late_day = 90.0;            // day of the late autoantibody and hemoglobin read-outs
  double aplasia_threshold = 1.0;    // cells/µL: B-cell aplasia below this
  double recovery_fraction = 0.5;    // B-cell recovery: back to this fraction of b0
  double qpcr_lloq = 50.0;           // copies/µg: persistence = last day with qPCR at or above this
};

struct MetricColumn {
  std::string name;
  std::string unit;
  std::string meaning;
};

struct Metric {
  std::string name;
  double value = std::nan("");  // NaN: not reached within the simulated time (e.g. B cells not yet recovered)
  std::string unit;
  std::string meaning;
};

// The metric columns of a model under these settings (fixed for a model, whatever the horizon).
std::vector<MetricColumn> metric_columns(const Model& model, const MetricSettings& settings = {});

// The values of metric_columns, in that order, into `out` (sized to match).
void compute_metrics(const Model& model, const MetricSettings& settings, std::span<const double> parameters,
                     const SimulationResult& result, std::span<double> out);

// Columns and values together.
std::vector<Metric> cart_metrics(const Model& model, const std::vector<double>& parameters,
                                 const SimulationResult& result, const MetricSettings& settings = {});

}  // namespace cartpk::metrics
