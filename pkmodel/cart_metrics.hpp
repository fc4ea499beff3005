#pragma once
// Clinically meaningful summary metrics of a CAR-T simulation, computed from whichever observables a model
// has (flow, qpcr, bcell, autoab, hb). One place for the CLI, the HDF5 export and virtual populations.
// Metrics are read off the output grid (crossings interpolated linearly): a finer grid, a finer answer.
#include <cmath>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"
#include "pkmodel/simulation.hpp"

namespace cartpk::metrics {

struct Metric {
  std::string name;
  double value = std::nan("");  // NaN: not reached within the simulated time (e.g. B cells not yet recovered)
  std::string unit;
  std::string meaning;
};

inline constexpr double kAplasiaThreshold = 1.0;     // cells/µL: B-cell aplasia below this
inline constexpr double kRecoveryFraction = 0.5;     // B-cell recovery: back to this fraction of b0
inline constexpr double kAucEndDay = 28.0;
inline constexpr double kLateDay = 90.0;

std::vector<Metric> cart_metrics(const Model& model, const std::vector<double>& parameters,
                                 const SimulationResult& result);

}  // namespace cartpk::metrics
