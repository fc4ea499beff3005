#pragma once
// Files that define a virtual population: the IIV file (log-normal between-patient variability, correlations,
// covariate relations; docs/vpop.md) and the scenarios file (named dose scenarios). Every defect is an InputError
// naming the file, the line and the key.
#include <filesystem>
#include <string>
#include <vector>

#include "pkmodel/population.hpp"
#include "pkmodel/scenario.hpp"

namespace cartpk::io {

// The IIV file applied to the model's typical values; the result is validated (Ω positive definite, domains).
PopulationModel parse_iiv_text(const std::string& text, const std::string& name, const Model& model);
PopulationModel read_iiv_file(const std::filesystem::path& path, const Model& model);

// Scenarios in the order the file defines them.
std::vector<Scenario> parse_scenarios_text(const std::string& text, const std::string& name);
std::vector<Scenario> read_scenarios_file(const std::filesystem::path& path);

std::string read_text_file(const std::filesystem::path& path, const std::string& what);

}  // namespace cartpk::io
