#pragma once
// Fit results to HDF5 (docs/hdf5-layout.md, /fit) and to the per-subject CSV table.
#include <filesystem>
#include <string>
#include <vector>

#include "fitting/subject_fit.hpp"
#include "io/simulation_export.hpp"

namespace cartpk::cli {

struct FitRun {
  const fitting::FitSetup* setup = nullptr;
  const std::vector<Subject>* subjects = nullptr;
  const std::vector<fitting::SubjectFit>* fits = nullptr;
  std::string data_path;
  std::string prior_description;  // what the OFV's prior term is ("none", or the source of the priors)
  bool interrupted = false;
  double fit_seconds = 0.0;  // wall time of the fits (reading, writing excluded)
  std::string ci_calibration;  // how the profile intervals were calibrated (fitting::calibration_name)
};

void write_fit_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const FitRun& run);
void write_fit_table(const std::filesystem::path& path, const FitRun& run);
void print_fit_table(const FitRun& run);

}  // namespace cartpk::cli
