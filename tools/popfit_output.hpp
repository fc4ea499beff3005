#pragma once
// Population fit results: HDF5 (/popfit, docs/hdf5-layout.md), the per-subject table (--table), the population
// table (--pop-table) and the summary printed on stdout.
#include <filesystem>
#include <string>
#include <vector>

#include "fitting/population_fit.hpp"
#include "io/simulation_export.hpp"

namespace cartpk::cli {

struct PopfitRun {
  const fitting::PopulationSetup* setup = nullptr;
  const std::vector<Subject>* subjects = nullptr;
  const fitting::PopulationFitResult* result = nullptr;
  std::string data_path;
  unsigned long seed = 0;
};

void write_popfit_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const PopfitRun& run);
void write_popfit_subject_table(const std::filesystem::path& path, const PopfitRun& run);
void write_popfit_population_table(const std::filesystem::path& path, const PopfitRun& run);
void print_popfit_summary(const PopfitRun& run);

}  // namespace cartpk::cli
