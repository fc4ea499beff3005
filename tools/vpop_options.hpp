#pragma once
// The options of `cartpk vpop` and what they turn into: the population model (IIV and covariates) and the run's
// settings (scenarios, grid, metrics, quantiles). Shared with `cartpk trial`, which builds its pool the same way.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/vpop.hpp"

namespace cartpk::cli {

struct VpopCliOptions {
  std::string model;
  long n = 0;
  std::uint64_t seed = 1;
  std::string iiv;                  // "" or "published": the model's table; FILE.toml
  std::string published_iiv = "variance";  // how the model's published values are read: variance or sd
  std::string covariates;           // WT=MEDIAN:CV%:LOWER:UPPER, or a dataset whose WT values are resampled
  std::string scenarios;            // FILE.toml
  std::string dose_per_kg;          // a list: one scenario per dose
  std::string product;              // a preset for every scenario
  std::string lymphodepletion;      // on | off for every scenario
  std::string times;
  double end_day = 730.0;
  double step_day = 7.0;
  std::string quantiles = "0.05,0.25,0.5,0.75,0.95";
  long keep_trajectories = 0;
  double auc_end_day = 28.0, late_day = 90.0, aplasia_threshold = 1.0, qpcr_lloq = 50.0;
  std::string solution;             // ode or closed (default: closed where the model has one)
  SolverOptions solver;
  int threads = 0;
  bool quiet = false;
  std::string out, table;
};

struct GridOptions {
  CLI::Option* times;
  CLI::Option* end;
  CLI::Option* step;
};
GridOptions add_vpop_options(CLI::App& command, VpopCliOptions& options);

std::vector<std::filesystem::path> vpop_inputs(const VpopCliOptions& options);
PopulationModel population_from_options(const Model& model, const VpopCliOptions& options);
VpopSettings settings_from_options(const Model& model, const VpopCliOptions& options, bool times_given, bool grid_given);

}  // namespace cartpk::cli
