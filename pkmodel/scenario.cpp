#include "pkmodel/scenario.hpp"

#include <cmath>

#include "pkmodel/errors.hpp"

namespace cartpk {

void apply_preset(const Model& model, const std::string& name, std::vector<double>& parameters,
                  const std::string& origin) {
  std::string known;
  for (const auto& preset : model.presets()) {
    if (preset.name == name) {
      for (const auto& [parameter, value] : preset.assignments)
        if (!parameter.empty()) parameters[static_cast<std::size_t>(model.parameter_index(parameter))] = value;
      return;
    }
    known += (known.empty() ? "" : ", ") + std::string(preset.name);
  }
  throw InputError(origin + " '" + name + "': model " + std::string(model.name()) +
                   (known.empty() ? " has no presets" : " has no such preset (expected one of: " + known + ")"));
}

ResolvedScenario resolve_scenario(const Model& model, const Scenario& scenario, std::vector<double> typical) {
  const std::string where = scenario.origin.empty() ? "scenario " + scenario.name : scenario.origin;
  auto set = [&](const std::string& name, double value, const std::string& what) {
    const int index = model.parameter_index(name);
    if (index < 0)
      throw InputError(where + ": " + what + ": model " + std::string(model.name()) + " has no parameter " + name);
    const auto& spec = model.parameters()[static_cast<std::size_t>(index)];
    if (!std::isfinite(value) || !in_domain(spec.domain, value))
      throw InputError(where + ": " + what + ": " + name + " = " + number_text(value) + ", expected " +
                       std::string(domain_name(spec.domain)) + " (" + std::string(spec.unit) + ")");
    typical[static_cast<std::size_t>(index)] = value;
  };
  if (!scenario.product.empty()) apply_preset(model, scenario.product, typical, where + ": product");
  if (scenario.lymphodepletion) {
    set("ld", *scenario.lymphodepletion ? 1.0 : 0.0, "lymphodepletion");
    if (!*scenario.lymphodepletion) set("fld_b", 1.0, "lymphodepletion");
  }
  if (scenario.dose_per_kg) {
    if (!(*scenario.dose_per_kg > 0.0))
      throw InputError(where + ": dose_per_kg = " + number_text(*scenario.dose_per_kg) + ", expected cells/kg > 0");
    set("dose_per_kg", *scenario.dose_per_kg, "dose_per_kg");
  }
  for (const auto& [name, value] : scenario.overrides) set(name, value, "parameter " + name);

  ResolvedScenario resolved{std::move(typical), {}};
  if (!model.accepts_doses()) {
    if (!scenario.schedule.empty())
      throw InputError(where + ": schedule: model " + std::string(model.name()) + " takes no dose records");
    return resolved;
  }
  if (scenario.schedule.empty()) {
    resolved.doses.push_back({0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter});
    return resolved;
  }
  for (const auto& [day, fraction] : scenario.schedule) {
    if (!(day >= 0.0) || !(fraction > 0.0))
      throw InputError(where + ": schedule " + number_text(day) + ":" + number_text(fraction) +
                       ": expected a day >= 0 and a fraction > 0");
    if (!resolved.doses.empty() && day < resolved.doses.back().time_day)
      throw InputError(where + ": schedule: expected doses in time order");
    resolved.doses.push_back({day, fraction, 70.0, DoseUnit::fraction_of_dose_parameter});
  }
  return resolved;
}

}  // namespace cartpk
