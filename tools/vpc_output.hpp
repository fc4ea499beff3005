#pragma once
// VPC results: HDF5 (/vpc, docs/hdf5-layout.md) and the per-bin summary printed on stdout.
#include <filesystem>
#include <string>

#include "fitting/vpc.hpp"
#include "io/simulation_export.hpp"

namespace cartpk::cli {

struct VpcRun {
  const fitting::VpcModel* model = nullptr;
  const fitting::VpcResult* result = nullptr;
  std::string fit_path, data_path;
  unsigned long seed = 0;
  bool auto_bins = true;
  bool pred_corrected = false;
};

void write_vpc_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const VpcRun& run);
void print_vpc_summary(const VpcRun& run);

}  // namespace cartpk::cli
