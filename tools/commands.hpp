#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace cartpk::cli {

struct Context {
  std::string command_line;  // recorded in output files
  int exit_code = 0;         // set by a command that finished but must report a partial failure (3, 130)
};

void add_models_command(CLI::App& app);
void add_simulate_command(CLI::App& app, const Context& context);
void add_fit_command(CLI::App& app, Context& context);
void add_popfit_command(CLI::App& app, Context& context);  // tools/cmd_popfit.cpp
void add_vpop_command(CLI::App& app, Context& context);     // tools/cmd_vpop.cpp
void add_vpc_command(CLI::App& app, Context& context);      // tools/cmd_vpc.cpp
void add_design_command(CLI::App& app, const Context& context);  // tools/cmd_design.cpp
void add_trial_command(CLI::App& app, Context& context);    // tools/cmd_trial.cpp

}  // namespace cartpk::cli
