#include "io/simulation_export.hpp"

#include <chrono>
#include <ctime>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/csv_writer.hpp"
#include "io/h5_file.hpp"
#include "io/sha256.hpp"

namespace cartpk::io {

namespace {

std::vector<double> column(const Eigen::MatrixXd& m, Eigen::Index j) {
  std::vector<double> out(static_cast<std::size_t>(m.rows()));
  for (Eigen::Index i = 0; i < m.rows(); ++i) out[static_cast<std::size_t>(i)] = m(i, j);
  return out;
}

template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.name);
  return out;
}

void write_parameters(const H5Group& root, const Model& model, const SimulationRequest& request) {
  const auto group = root.subgroup("parameters");
  std::vector<std::string> units;
  for (const auto& spec : model.parameters()) units.emplace_back(spec.unit);
  group.write("names", names_of(model.parameters()));
  group.write("values", request.parameters, "see units");
  group.write("units", units);
}

void write_variables(const H5Group& group, std::span<const VariableSpec> specs, const Eigen::MatrixXd& values) {
  for (std::size_t j = 0; j < specs.size(); ++j)
    group.write(specs[j].name, column(values, static_cast<Eigen::Index>(j)), specs[j].unit);
}

void write_sensitivities(const H5Group& group, std::span<const VariableSpec> specs,
                         const std::vector<Eigen::MatrixXd>& sens, const std::vector<std::string>& parameter_names) {
  for (std::size_t j = 0; j < specs.size(); ++j) {
    group.write(specs[j].name, sens[j], std::string(specs[j].unit) + " per unit of parameter");
    group.dataset_attribute(specs[j].name, "parameter_names", parameter_names);
  }
}
}  // namespace

void write_provenance(const H5Group& root, const RunInfo& run, std::string_view model) {
  root.attribute("layout_version", kLayoutVersion);
  root.attribute("cartpk_version", run.cartpk_version);
  root.attribute("command_line", run.command_line);
  root.attribute("created_utc", utc_now());
  root.attribute("model", model);
}

void write_data_provenance(const H5Group& root, const std::filesystem::path& data) {
  root.attribute("data", data.string());
  root.attribute("data_absolute_path", std::filesystem::absolute(data).lexically_normal().string());
  root.attribute("data_sha256", sha256_file_hex(data));
}

void write_simulation_h5(const std::filesystem::path& path, const RunInfo& run, const Model& model,
                         const SimulationRequest& request, const SimulationResult& result,
                         const SolverSettings& settings, const std::vector<metrics::Metric>& summary) {
  H5File file(path);
  {
    const auto root = file.root();
    write_provenance(root, run, model.name());
    write_parameters(root, model, request);

    const auto sim = root.subgroup("simulation");
    sim.attribute("method", result.method);
    sim.attribute("rtol", settings.rtol);
    sim.attribute("atol_scale", settings.atol_scale);
    sim.attribute("steps", result.stats.steps);
    sim.attribute("rhs_evaluations", result.stats.rhs_evaluations);
    sim.attribute("jacobian_evaluations", result.stats.jacobian_evaluations);
    sim.attribute("error_test_failures", result.stats.error_test_failures);
    sim.attribute("nonlinear_failures", result.stats.nonlinear_failures);
    sim.attribute("integrator", std::string(result.method == "ode" ? integrator_used(result.stats) : "closed"));
    sim.attribute("explicit_steps", result.stats.explicit_steps);
    sim.attribute("handovers", result.stats.handovers);
    sim.write("time", result.times_day, "day");
    write_variables(sim.subgroup("states"), model.states(), result.states);
    write_variables(sim.subgroup("observables"), model.observables(), result.observables);
    if (!result.sensitivity_parameters.empty()) {
      std::vector<std::string> names;
      for (int ip : result.sensitivity_parameters)
        names.emplace_back(model.parameters()[static_cast<std::size_t>(ip)].name);
      write_sensitivities(sim.subgroup("sensitivities"), model.observables(), result.observable_sensitivities, names);
      write_sensitivities(sim.subgroup("state_sensitivities"), model.states(), result.state_sensitivities, names);
    }
    if (!request.doses.empty()) {
      const auto doses = root.subgroup("doses");
      std::vector<double> time, amount, weight;
      for (const auto& d : request.doses) {
        time.push_back(d.time_day);
        amount.push_back(d.amount);
        weight.push_back(d.weight_kg);
      }
      doses.write("time", time, "day");
      doses.write("amount", amount, "see amount_unit");
      doses.write("weight", weight, "kg");
      std::vector<std::string> units;
      for (const auto& d : request.doses)
        units.emplace_back(d.unit == DoseUnit::cells ? "cells" : "fraction of dose_per_kg");
      doses.write("amount_unit", units);
    }
    if (!summary.empty()) {
      const auto group = root.subgroup("metrics");
      std::vector<std::string> names, units, meanings;
      std::vector<double> values;
      for (const auto& m : summary) {
        names.push_back(m.name);
        values.push_back(m.value);
        units.push_back(m.unit);
        meanings.push_back(m.meaning);
      }
      group.write("names", names);
      group.write("values", values, "see units");
      group.write("units", units);
      group.write("meanings", meanings);
    }
  }
  file.close();
}

void write_simulation_csv(const std::filesystem::path& path, const Model& model, const SimulationResult& result,
                          bool include_states) {
  std::vector<CsvColumn> columns{{"time", result.times_day}};
  for (std::size_t j = 0; j < model.n_observables(); ++j)
    columns.push_back({std::string(model.observables()[j].name), column(result.observables, static_cast<Eigen::Index>(j))});
  if (include_states)
    for (std::size_t j = 0; j < model.n_states(); ++j)
      columns.push_back({std::string(model.states()[j].name), column(result.states, static_cast<Eigen::Index>(j))});
  write_csv(path, columns);
}

}  // namespace cartpk::io
