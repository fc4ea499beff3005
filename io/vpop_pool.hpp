#pragma once
// A virtual population's per-patient metrics and status, per scenario: what `cartpk trial` draws its virtual
// patients from. Read from a `cartpk vpop` result file (/vpop, docs/hdf5-layout.md), or gathered in memory from
// an in-process run (tools/cmd_trial.cpp).
#include <filesystem>
#include <string>
#include <vector>

namespace cartpk::io {

struct VpopPool {
  std::string source;                        // "FILE.h5" or "in-process vpop"
  std::string model;
  std::string seed;                          // the population's seed, as recorded
  std::size_t n_patients = 0;                // patients in every scenario (rows)
  bool complete = true;                      // false: an interrupted or killed run (its whole patients are used)
  double late_day = 90.0;                    // the late read-out day of the hb/autoab metrics
  std::vector<std::string> metric_names, metric_units;
  struct Scenario {
    std::string name, definition;
    std::vector<double> metrics;             // n_patients × metric_names.size(), row-major
    std::vector<long> status;                // n_patients: 0 ok, 1 solver failed, 2 not sampled
  };
  std::vector<Scenario> scenarios;
};

// InputError naming the file and the missing or malformed object when it is not a vpop result.
VpopPool read_vpop_pool(const std::filesystem::path& path);

}  // namespace cartpk::io
