#pragma once
// The results of `cartpk trial`: a summary per scenario on stdout, and written as CSV (--table, one row per
// scenario) and HDF5 (--out, group /trial; layout in docs/hdf5-layout.md), both atomically.
#include <string>
#include <vector>

#include "trial/virtual_trial.hpp"

namespace cartpk::cli {

struct TrialScenarioResult {
  std::string name, definition;
  std::size_t pool_patients = 0, excluded_failed = 0, excluded_not_evaluable = 0;
  trial::PoolSummary pool;
  trial::TrialEstimates simulated;
  trial::ExactComparison exact;
};

struct TrialReport {
  trial::ToxicityStopDesign design;
  std::string design_file, design_rule, response_rule, toxicity_link;
  std::uint64_t replicates = 0, seed = 0;
  std::string pool_source, pool_model, pool_seed;
  bool pool_complete = true;
  double trial_seconds = 0.0;  // wall time of the replicates and the summaries (pool reading and output excluded)
  std::vector<TrialScenarioResult> scenarios;
};

std::string design_rule_text(const trial::ToxicityStopDesign& design);
void print_trial_report(const TrialReport& report);
void write_trial_outputs(const TrialReport& report, const std::string& csv_path, const std::string& h5_path,
                         const std::string& command_line);

}  // namespace cartpk::cli
