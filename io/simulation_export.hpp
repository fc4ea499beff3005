#pragma once
// Simulation results to HDF5 (layout: docs/hdf5-layout.md) and to a CSV table. Both write `path` directly:
// callers write to AtomicOutput temporaries and commit once everything is written.
#include <filesystem>
#include <string>
#include <string_view>

#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/model.hpp"
#include "pkmodel/simulation.hpp"

namespace cartpk::io {

inline constexpr long kLayoutVersion = 1;  // bump on any incompatible change of docs/hdf5-layout.md

struct RunInfo {  // provenance written as root attributes
  std::string cartpk_version;
  std::string command_line;
};

class H5Group;

// Root provenance of every result file: layout_version, cartpk_version, command_line, created_utc, model.
void write_provenance(const H5Group& root, const RunInfo& run, std::string_view model);
// The dataset a result was computed from: data (as given), data_absolute_path, data_sha256.
void write_data_provenance(const H5Group& root, const std::filesystem::path& data);

struct SolverSettings {  // written beside the results so a file records how it was produced
  double rtol = 0.0;
  double atol_scale = 0.0;
};

void write_simulation_h5(const std::filesystem::path& path, const RunInfo& run, const Model& model,
                         const SimulationRequest& request, const SimulationResult& result,
                         const SolverSettings& settings, const std::vector<metrics::Metric>& summary = {});

// `time`, one column per observable, and with include_states one per state.
void write_simulation_csv(const std::filesystem::path& path, const Model& model, const SimulationResult& result,
                          bool include_states);

}  // namespace cartpk::io
