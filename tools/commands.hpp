#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace cartpk::cli {

struct Context {
  std::string command_line;  // recorded in output files
};

void add_models_command(CLI::App& app);
void add_simulate_command(CLI::App& app, const Context& context);

}  // namespace cartpk::cli
