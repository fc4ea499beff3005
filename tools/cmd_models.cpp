// `cartpk models [NAME]`: the model library and each model's parameter table.
#include <cstdio>
#include <string>

#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/commands.hpp"

namespace cartpk::cli {

namespace {
std::string pad_left(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : std::string(width - text.size(), ' ') + text;
}

void print_model(const Model& model) {
  std::printf("%s: %s\nsource: %s\n\nparameters:\n", std::string(model.name()).c_str(),
              std::string(model.description()).c_str(), std::string(model.source()).c_str());
  bool has_iiv = false;
  for (const auto& p : model.parameters()) has_iiv = has_iiv || p.iiv_omega2 > 0.0;
  std::printf("  %-12s %-24s %12s %12s %12s %s %s\n", "name", "unit", "default", "lower", "upper",
              has_iiv ? "    omega2" : "", "meaning [source]");
  for (const auto& p : model.parameters()) {
    const std::string omega2 = !has_iiv ? "" : p.iiv_omega2 > 0.0 ? number_text(p.iiv_omega2) : "-";
    std::printf("  %-12s %-24s %12.6g %12.6g %12.6g %s%s  %s [%s]\n", std::string(p.name).c_str(),
                std::string(p.unit).c_str(), p.default_value, p.lower, p.upper, has_iiv ? " " : "",
                has_iiv ? pad_left(omega2, 9).c_str() : "", std::string(p.meaning).c_str(),
                std::string(p.source).c_str());
  }
  if (has_iiv)
    std::printf("  omega2: published between-patient variance of log(parameter) (log-normal IIV)\n");
  if (!model.presets().empty()) {
    std::printf("\npresets (--product):\n");
    for (const auto& preset : model.presets()) {
      std::string sets;
      for (const auto& [parameter, value] : preset.assignments)
        if (!parameter.empty()) sets += (sets.empty() ? "" : ", ") + std::string(parameter) + " = " + number_text(value);
      std::printf("  %-12s %s%s\n", std::string(preset.name).c_str(), std::string(preset.description).c_str(),
                  sets.empty() ? "" : (" (" + sets + ")").c_str());
    }
  }
  std::printf("\nstates:\n");
  for (const auto& s : model.states())
    std::printf("  %-12s %-24s %s\n", std::string(s.name).c_str(), std::string(s.unit).c_str(),
                std::string(s.meaning).c_str());
  std::printf("\nobservables:\n");
  for (const auto& o : model.observables())
    std::printf("  %-12s %-24s %s\n", std::string(o.name).c_str(), std::string(o.unit).c_str(),
                std::string(o.meaning).c_str());
  std::printf("\nclosed form: %s; events: %d; dose records: %s\n", model.has_closed_form() ? "yes" : "no",
              model.n_events(), model.accepts_doses() ? "accepted" : "not used (dose is a parameter)");
}
}  // namespace

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List the models, or show one model's parameters and observables");
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "Model to describe");
  cmd->callback([name] {
    if (!name->empty()) return print_model(find_model(*name));
    for (const Model* m : all_models())
      std::printf("%-20s %s\n%-20s source: %s\n", std::string(m->name()).c_str(), std::string(m->description()).c_str(),
                  "", std::string(m->source()).c_str());
  });
}

}  // namespace cartpk::cli
