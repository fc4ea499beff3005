#pragma once
// The virtual-population loop shared by `cartpk vpop` and `cartpk trial`: every patient through every scenario on
// the threads of each MPI rank (one solver workspace per thread), finished patients handed on in patient order on
// rank 0, per-scenario summaries merged from every thread and rank, progress on stderr.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "pkmodel/vpop.hpp"

namespace cartpk::cli {

struct PopulationRunOptions {
  int threads = 0;                              // 0: all cores
  bool quiet = false;                           // no progress lines
  const std::atomic<bool>* cancel = nullptr;    // set (e.g. by SIGINT): no new patient is started
  std::string command = "cartpk vpop";          // names the progress lines
};

struct PopulationRun {
  std::vector<ScenarioSummary> totals;  // merged over threads and ranks (rank 0)
  std::size_t delivered = 0;            // patients handed on in order (rank 0)
  std::size_t failed_simulations = 0;   // patient-scenario simulations with status != ok among them
  double seconds = 0.0;
};

// `deliver` runs on rank 0 only, once per patient, in patient order (it may move the patient away). Every rank must
// call this (collective).
PopulationRun run_population(const VirtualPopulation& vpop, const PopulationRunOptions& options,
                             const std::function<void(PatientResult&)>& deliver);

}  // namespace cartpk::cli
