#pragma once
// A dose scenario: what changes from the model's defaults for every patient who receives it (dose per kg, a split
// schedule, the product preset, lymphodepletion, any parameter). Shared by `simulate`, `vpop` and `trial`.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pkmodel/model.hpp"

namespace cartpk {

struct Scenario {
  std::string name = "base";
  std::string origin;                                  // where it was defined, for messages ("file.toml:12")
  std::string product;                                 // a model preset; empty: none
  std::optional<bool> lymphodepletion;                 // off: ld = 0 and fld_b = 1 (B cells start at baseline)
  std::optional<double> dose_per_kg;                   // cells/kg
  std::vector<std::pair<double, double>> schedule;     // (day, fraction of dose_per_kg); empty: all at day 0
  std::vector<std::pair<std::string, double>> overrides;  // parameter = value, applied last
};

// The scenario's typical values and dose records (fractions of dose_per_kg, so any weight gives the same
// cells/kg). InputError naming the scenario's origin for a product, parameter or dosing the model lacks, a dose
// <= 0, fractions <= 0 or days out of order.
struct ResolvedScenario {
  std::vector<double> typical;
  std::vector<DoseRecord> doses;
};
ResolvedScenario resolve_scenario(const Model& model, const Scenario& scenario, std::vector<double> typical);

// Applies a model preset by name; InputError naming `origin` and listing the model's presets.
void apply_preset(const Model& model, const std::string& name, std::vector<double>& parameters,
                  const std::string& origin);

}  // namespace cartpk
