// `cartpk simulate`: one model, one parameter set, a time grid; states, observables and sensitivities to
// HDF5 (and CSV), with a short summary on stdout.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/dataset.hpp"
#include "io/simulation_export.hpp"
#include "pkmodel/cart_metrics.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/metrics.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "tools/analysis_options.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"

namespace cartpk::cli {

namespace {
struct SimulateOptions {
  std::string model;
  std::vector<std::string> params;
  std::string times;
  double end_day = 730.0;
  double step_day = 1.0;
  std::string sens;
  std::string solution = "ode";
  std::string out;
  std::string table;
  bool states_in_table = false;
  std::string product;           // a model preset, e.g. cd19, bcma, cd19-bcma
  std::string doses;             // day:fraction,... of the model's dose parameter, or "none"
  double dose_per_kg = 0.0;      // 0: the model's default
  double weight_kg = 70.0;
  std::string lymphodepletion;   // on | off
  std::string data;              // NONMEM-style dataset whose dose records to simulate
  std::string id;                // the subject in it (default: the first)
  io::DatasetChoices dataset;    // --dvid, --sep, --ignore, --accept for --data
  std::string warnings = "summary";  // --warnings: summary, all or none
  bool weight_given = false;     // --weight was given (it conflicts with --data, whose doses carry WT)
  SolverOptions solver;           // --rtol, --atol-scale
};

// Left-aligns text in a column of `width` characters, counting UTF-8 code points (µ is two bytes).
std::string pad(std::string_view text, std::size_t width) {
  std::size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  return std::string(text) + std::string(width > chars ? width - chars : 0, ' ');
}

void print_summary(const Model& model, const SimulationResult& result, const std::vector<metrics::Metric>& rows) {
  std::printf("model %s, %s solution, %zu times from %g to %g day\n", std::string(model.name()).c_str(),
              result.method.c_str(), result.times_day.size(), result.times_day.front(), result.times_day.back());
  std::printf("  %-10s %-12s %14s %12s %14s   (peak on the output grid)\n", "observable", "unit", "peak", "tpeak (day)", "last");
  for (std::size_t j = 0; j < model.n_observables(); ++j) {
    const auto col = result.observables.col(static_cast<Eigen::Index>(j));
    const std::vector<double> values(col.begin(), col.end());
    const auto peak = metrics::peak(result.times_day, values);
    std::printf("  %-10s %s %14.6g %12.4g %14.6g\n", std::string(model.observables()[j].name).c_str(),
                pad(model.observables()[j].unit, 12).c_str(), peak.value, peak.time_day, values.back());
  }
  if (!rows.empty()) std::printf("  metrics (peaks and B-cell crossings on the continuous solution):\n");
  for (const auto& m : rows) {
    if (std::isnan(m.value)) std::printf("    %-26s %14s %s %s\n", m.name.c_str(), "not reached", pad(m.unit, 22).c_str(), m.meaning.c_str());
    else std::printf("    %-26s %14.6g %s %s\n", m.name.c_str(), m.value, pad(m.unit, 22).c_str(), m.meaning.c_str());
  }
  if (result.method == "ode")
    std::printf("  solver: %ld steps, %ld rhs evaluations, %ld error-test failures\n", result.stats.steps,
                result.stats.rhs_evaluations, result.stats.error_test_failures);
}

// The dose records of one subject of a NONMEM-style dataset (AMT in cells, WT in kg).
std::vector<DoseRecord> dataset_doses(const Model& model, const SimulateOptions& opt) {
  const std::string& path = opt.data;
  const std::string& id = opt.id;
  auto options = io::dataset_options(model, opt.dataset);
  if (options.default_observable.empty() && options.dvid_map.empty())  // only the doses matter here
    options.default_observable = options.observables.front();
  options.require_observations = false;
  const auto detail = io::parse_warning_detail(opt.warnings, "--warnings");
  const auto data = io::read_dataset(path, options);
  for (const auto& w : io::warning_lines(data.warnings, detail)) std::fprintf(stderr, "cartpk: warning: %s\n", w.c_str());
  const Subject* subject = nullptr;
  for (const auto& s : data.subjects)
    if (id.empty() || s.id == id) { subject = &s; break; }
  if (!subject) throw InputError("--id " + id + ": no subject with this ID in " + path);
  if (subject->doses.empty())
    throw InputError(path + ":" + std::to_string(subject->first_line) + ": subject " + subject->id +
                     " has no dose records (expected EVID = 1 rows with AMT in cells)");
  std::vector<DoseRecord> doses;
  for (const auto& d : subject->doses) {
    if (!(d.dose.weight_kg > 0.0))
      throw InputError(path + ":" + std::to_string(d.line) + ": dose of subject " + subject->id +
                       " in cells needs the body weight (expected a WT column with a value > 0 kg)");
    doses.push_back(d.dose);
  }
  return doses;
}

// Product preset, lymphodepletion and dosing flags, for models that have them.
void apply_scenario(const Model& model, const SimulateOptions& opt, SimulationRequest& request) {
  auto set = [&](const char* name, double value, const std::string& option) {
    const int index = model.parameter_index(name);
    if (index < 0)
      throw InputError(option + ": model " + std::string(model.name()) + " has no parameter " + name);
    request.parameters[static_cast<std::size_t>(index)] = value;
  };
  if (!opt.product.empty()) apply_preset(model, opt.product, request.parameters, "--product");
  if (!opt.lymphodepletion.empty()) {
    if (opt.lymphodepletion != "on" && opt.lymphodepletion != "off")
      throw InputError("--lymphodepletion '" + opt.lymphodepletion + "': expected on or off");
    const bool on = opt.lymphodepletion == "on";
    set("ld", on ? 1.0 : 0.0, "--lymphodepletion");
    if (!on) set("fld_b", 1.0, "--lymphodepletion");  // no Flu/Cy: B cells start at baseline
  }
  (void)io::parse_warning_detail(opt.warnings, "--warnings");
  if (!opt.data.empty() && opt.dose_per_kg != 0.0)  // the dataset's AMT (cells) is the dose: never ignore the option
    throw InputError("--dose-per-kg cannot be combined with --data: the dataset's dose records (AMT in cells) are what "
                     "is simulated (expected one dose source: change AMT in the file, or simulate without --data)");
  if (!opt.data.empty() && opt.weight_given)
    throw InputError("--weight cannot be combined with --data: the dataset's WT goes with its doses (expected the "
                     "weight in the file's WT column)");
  if (opt.dose_per_kg != 0.0) {
    if (!(opt.dose_per_kg > 0.0)) throw InputError("--dose-per-kg: expected a number of cells/kg > 0");
    if (opt.dose_per_kg > io::kMaxCarTCellsPerKg)
      std::fprintf(stderr, "cartpk: warning: --dose-per-kg %s: more CAR+ cells than all white blood cells of a person "
                   "(about 7e8 per kg: 70 mL/kg of blood at 1e4 cells/µL); is the dose in cells/kg?\n",
                   number_text(opt.dose_per_kg).c_str());
    set("dose_per_kg", opt.dose_per_kg, "--dose-per-kg");
  }
  if (!(opt.weight_kg > 0.0) || !std::isfinite(opt.weight_kg)) throw InputError("--weight: expected a weight > 0 kg");
  if (!model.accepts_doses()) {
    if (!opt.doses.empty() || !opt.data.empty())
      throw InputError(std::string(opt.data.empty() ? "--doses" : "--data") + ": model " + std::string(model.name()) +
                       " takes no dose records (its dose is set by its parameters)");
    return;
  }
  if (!opt.data.empty()) {
    if (!opt.doses.empty()) throw InputError("--data cannot be combined with --doses (choose one dose source)");
    request.doses = dataset_doses(model, opt);
    return;
  }
  request.doses = opt.doses.empty() ? std::vector<DoseRecord>{{0.0, 1.0, opt.weight_kg, DoseUnit::fraction_of_dose_parameter}}
                                    : parse_dose_schedule(opt.doses, opt.weight_kg, "--doses");
  double total = 0.0;  // a fractionated schedule normally gives the whole dose
  for (const auto& d : request.doses) total += d.amount;
  if (!request.doses.empty() && std::abs(total - 1.0) > 1e-9)
    std::fprintf(stderr, "cartpk: warning: --doses '%s': the fractions sum to %s, not 1 (%s x the dose parameter is given in all)\n",
                 opt.doses.c_str(), number_text(total).c_str(), number_text(total).c_str());
}

void run_simulate(const SimulateOptions& opt, const Context& context, bool times_given, bool grid_given) {
  const Model& model = find_model(opt.model);
  std::vector<std::filesystem::path> inputs;
  if (!opt.data.empty()) inputs.emplace_back(opt.data);
  io::check_output_path(opt.out, "--out", inputs);
  if (!opt.table.empty()) {
    inputs.emplace_back(opt.out);
    io::check_output_path(opt.table, "--table", inputs);
  }
  check_solver_options(opt.solver);
  if (opt.solution != "ode" && opt.solution != "closed")
    throw InputError("--solution '" + opt.solution + "': expected 'ode' or 'closed'");
  if (times_given && grid_given) throw InputError("--times cannot be combined with --end/--step (choose one grid)");

  SimulationRequest request;
  request.parameters = model.default_parameters();
  apply_scenario(model, opt, request);
  apply_parameter_assignments(model, opt.params, request.parameters, "--param");
  request.times_day = times_given ? parse_number_list(opt.times, "--times") : time_grid(opt.end_day, opt.step_day);
  if (!opt.sens.empty()) request.sensitivity_parameters = parse_parameter_names(model, opt.sens, "--sens");
  validate_request(model, request);

  const auto& solver_options = opt.solver;
  const auto result = make_solver(model, opt.solution, solver_options)->solve(request);

  // Every output is written to its temporary first; targets are replaced only once all are complete.
  io::AtomicOutput h5(opt.out);
  const auto summary = metrics::cart_metrics(model, request.parameters, result);
  io::write_simulation_h5(h5.temporary_path(), {CARTPK_VERSION, context.command_line}, model, request, result,
                          {solver_options.rtol, solver_options.atol_scale}, summary);
  std::unique_ptr<io::AtomicOutput> table;
  if (!opt.table.empty()) {
    table = std::make_unique<io::AtomicOutput>(opt.table);
    io::write_simulation_csv(table->temporary_path(), model, result, opt.states_in_table);
  }
  io::commit_together({&h5, table.get()});
  print_summary(model, result, summary);
  std::printf("  wrote %s%s%s\n", opt.out.c_str(), opt.table.empty() ? "" : " and ", opt.table.c_str());
}
}  // namespace

void add_simulate_command(CLI::App& app, const Context& context) {
  auto* cmd = app.add_subcommand("simulate", "Simulate one model at one parameter set and write HDF5 (and CSV)");
  auto opt = std::make_shared<SimulateOptions>();
  cmd->add_option("--model", opt->model, "Model name (see `cartpk models`); required");
  cmd->add_option("--param", opt->params, "Parameter value as name=value (repeatable)")->take_all();
  auto* times = cmd->add_option("--times", opt->times, "Output times in days, comma-separated (t >= 0; t < 0 before the infusion where the model defines it)");
  auto* end = cmd->add_option("--end", opt->end_day, "Last output time in days (default 730)");
  auto* step = cmd->add_option("--step", opt->step_day, "Output step in days (default 1)");
  cmd->add_option("--sens", opt->sens, "Sensitivities w.r.t. these parameters: p1,p2,... or all");
  cmd->add_option("--solution", opt->solution, "ode (CVODES, default) or closed (exact, where the model has one)");
  cmd->add_option("--out", opt->out, "HDF5 output file (written atomically); required");
  cmd->add_option("--table", opt->table, "CSV table: time, one column per observable (and state with --states)");
  cmd->add_flag("--states", opt->states_in_table, "Also write every state to the CSV table");
  cmd->add_option("--product", opt->product, "Product preset of the model (e.g. cd19, bcma, cd19-bcma; see `cartpk models NAME`)");
  cmd->add_option("--doses", opt->doses,
                  "Dose schedule day:fraction of the model's dose parameter (dose_per_kg, or dose for a flat-dose model), "
                  "e.g. 0:0.1,1:0.3,2:0.6; 'none' for no dose "
                  "(default: one infusion at day 0)");
  cmd->add_option("--dose-per-kg", opt->dose_per_kg, "CAR+ cells per kg (sets dose_per_kg)");
  auto* weight = cmd->add_option("--weight", opt->weight_kg, "Body weight in kg (default 70; recorded with the doses)");
  cmd->add_option("--lymphodepletion", opt->lymphodepletion, "on (ld = 1) or off (ld = 0, fld_b = 1)");
  cmd->add_option("--data", opt->data, "NONMEM-style dataset: simulate the dose records (EVID = 1, AMT cells, WT) of one subject");
  cmd->add_option("--id", opt->id, "Subject ID in --data (default: the first)");
  cmd->add_option("--dvid", opt->dataset.dvid, "--data: DVID (or CMT) values to observables, e.g. 1=qpcr,2=flow (as for fit)");
  cmd->add_option("--sep", opt->dataset.sep, "--data: separator comma, semicolon, tab, whitespace (default: detected from the header)");
  cmd->add_option("--ignore", opt->dataset.ignore, "--data: drop records meeting COLUMN OP VALUE, e.g. \"DVID==5\" (repeatable)")->take_all();
  cmd->add_option("--accept", opt->dataset.accept, "--data: keep only records meeting COLUMN OP VALUE, e.g. \"TIME<=365\" (repeatable)")->take_all();
  cmd->add_option("--warnings", opt->warnings, "Dataset warnings: summary (one line per kind, default), all or none");
  add_solver_options(*cmd, opt->solver);
  auto config = std::make_shared<AnalysisOptions>(
      *cmd, AnalysisOptions::Roles{{"--model", "--out"}, {"--data"}, {"--out", "--table"}});
  cmd->callback([opt, config, &context, times, end, step, weight] {
    config->apply();
    opt->weight_given = weight->count() > 0;
    config->run([&] { run_simulate(*opt, context, times->count() > 0, end->count() + step->count() > 0); });
  });
}

}  // namespace cartpk::cli
