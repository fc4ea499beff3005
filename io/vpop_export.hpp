#pragma once
// `cartpk vpop` results, streamed: the HDF5 file (/vpop, docs/hdf5-layout.md) and the CSV table are written as
// OUT.partial while the run goes on, one batch of whole patients at a time (in patient order), and renamed to
// OUT when the run finishes or is interrupted; a killed run leaves OUT untouched and OUT.partial holding every
// patient of the batches written so far.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/simulation_export.hpp"
#include "pkmodel/vpop.hpp"

namespace cartpk::io {

class VpopWriter {
 public:
  // Creates OUT.partial (and TABLE.partial when `table` is not empty); the writer thread then records the run's
  // description and creates the datasets while the caller starts the run (a failure there surfaces at the next
  // hand-over or at finish).
  VpopWriter(std::filesystem::path out, std::filesystem::path table, const VirtualPopulation& vpop, RunInfo run);
  ~VpopWriter();
  VpopWriter(const VpopWriter&) = delete;
  VpopWriter& operator=(const VpopWriter&) = delete;

  void append(PatientResult&& patient);  // the next patient in order
  // Hands the patients appended so far to the writer thread, which writes them while the caller goes on.
  void hand_over();
  // Writes the summaries, marks the file complete or partial, and renames both outputs into place.
  // `metric_quantiles`: per scenario, ScenarioSummary::metric_quantiles at the settings' levels (computed once by
  // the caller, who prints some of them too).
  void finish(const std::vector<ScenarioSummary>& summaries, const std::vector<std::vector<double>>& metric_quantiles,
              bool complete, double seconds);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::filesystem::path partial_path(const std::filesystem::path& target);  // OUT.partial
// What a scenario changes, as /vpop/scenarios/<name>@definition records it: "dose_per_kg=2e+06; product=cd19".
std::string describe_scenario(const Scenario& s);

}  // namespace cartpk::io
