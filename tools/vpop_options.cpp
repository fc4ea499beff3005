#include "tools/vpop_options.hpp"

#include <algorithm>
#include <cmath>

#include "io/dataset.hpp"
#include "io/population_file.hpp"
#include "io/population_h5.hpp"
#include "pkmodel/errors.hpp"
#include "tools/cli_values.hpp"

namespace cartpk::cli {

GridOptions add_vpop_options(CLI::App& cmd, VpopCliOptions& opt) {
  cmd.add_option("--model", opt.model, "Model name (see `cartpk models`); required");
  cmd.add_option("--n", opt.n, "Number of virtual patients; required");
  cmd.add_option("--seed", opt.seed, "Seed (default 1); patient k draws from its own stream of (seed, k)");
  cmd.add_option("--iiv", opt.iiv,
                 "Between-patient variability: 'published' (the model's omega^2, default), an IIV TOML file (docs/vpop.md), "
                 "a vpop result FILE.h5 (its population model), a popfit result FILE.h5 (the fitted population: typical "
                 "values, Omega, covariate effects) or a fit result FILE.h5 (its subjects, resampled)");
  cmd.add_option("--published-iiv", opt.published_iiv,
                 "How the model's published IIV values are read: variance (omega^2, default, as nlmixr2lib) or sd");
  cmd.add_option("--covariates", opt.covariates,
                 "Body weight: WT=MEDIAN:CV%:LOWER:UPPER (log-normal, truncated; default WT=70:20:40:150) or a "
                 "NONMEM-style dataset whose subjects' WT values are resampled");
  cmd.add_option("--scenarios", opt.scenarios, "Scenarios TOML file: [scenario.NAME] tables (docs/vpop.md)");
  cmd.add_option("--dose-per-kg", opt.dose_per_kg, "One scenario per dose, cells/kg, comma-separated (e.g. 0.5e6,1e6,2e6)");
  cmd.add_option("--product", opt.product, "Product preset for every scenario (see `cartpk models NAME`)");
  cmd.add_option("--lymphodepletion", opt.lymphodepletion, "on or off, for every scenario");
  GridOptions grid;
  grid.times = cmd.add_option("--times", opt.times, "Output times in days, comma-separated");
  grid.end = cmd.add_option("--end", opt.end_day, "Last output time in days (default 730)");
  grid.step = cmd.add_option("--step", opt.step_day, "Output step in days (default 7)");
  cmd.add_option("--quantiles", opt.quantiles, "Quantile levels of the bands and metrics (default 0.05,0.25,0.5,0.75,0.95)");
  cmd.add_option("--keep-trajectories", opt.keep_trajectories, "Keep the first M patients' curves (default 0)");
  cmd.add_option("--auc-end", opt.auc_end_day, "AUC window end, days (default 28)");
  cmd.add_option("--late-day", opt.late_day, "Day of the late autoantibody and hemoglobin read-outs (default 90)");
  cmd.add_option("--aplasia-threshold", opt.aplasia_threshold, "B-cell aplasia below this, cells/µL (default 1)");
  cmd.add_option("--qpcr-lloq", opt.qpcr_lloq, "qPCR LLOQ for persistence, copies/µg (default 50)");
  cmd.add_option("--solution", opt.solution, "ode or closed (default: closed where the model has one)");
  add_solver_options(cmd, opt.solver);
  cmd.add_option("--threads", opt.threads, "Threads (default 0: all cores); results do not depend on it");
  cmd.add_flag("--quiet", opt.quiet, "No progress on stderr");
  cmd.add_option("--out", opt.out, "HDF5 output; required (written as OUT.partial while running, renamed when done)");
  cmd.add_option("--table", opt.table, "CSV table, one row per patient and scenario");
  return grid;
}

std::vector<std::filesystem::path> vpop_inputs(const VpopCliOptions& opt) {
  std::vector<std::filesystem::path> inputs;
  for (const auto* path : {&opt.iiv, &opt.scenarios})
    if (!path->empty() && *path != "published") inputs.emplace_back(*path);
  if (!opt.covariates.empty() && !opt.covariates.starts_with("WT=")) inputs.emplace_back(opt.covariates);
  return inputs;
}

PopulationModel population_from_options(const Model& model, const VpopCliOptions& opt) {
  if (opt.published_iiv != "variance" && opt.published_iiv != "sd")
    throw InputError("--published-iiv '" + opt.published_iiv + "': expected variance or sd");
  if (opt.iiv.ends_with(".h5")) return io::read_population_file(opt.iiv, model);
  if (!opt.iiv.empty() && opt.iiv != "published") return io::read_iiv_file(opt.iiv, model);
  PopulationModel population = published_population(model);
  if (opt.published_iiv == "sd") population.omega = population.omega.cwiseProduct(population.omega);
  population.source = "published (" + opt.published_iiv + ")";
  return population;
}

namespace {
CovariateDistribution weight_distribution(const Model& model, const std::string& text) {
  CovariateDistribution weight;
  if (text.empty()) return weight;
  if (text.starts_with("WT=")) {
    const auto v = parse_number_list(text.substr(3), "--covariates WT");
    if (v.size() != 4 || !(v[0] > 0) || !(v[1] >= 0) || !(v[2] > 0) || !(v[2] <= v[0] && v[0] <= v[3]))
      throw InputError("--covariates '" + text + "': expected WT=MEDIAN:CV%:LOWER:UPPER with 0 < LOWER <= MEDIAN <= UPPER "
                       "and CV >= 0 (e.g. WT=70:20:40:150)");
    weight.median = v[0];
    weight.cv = v[1] / 100.0;
    weight.lower = v[2];
    weight.upper = v[3];
    return weight;
  }
  io::DatasetOptions options;
  for (const auto& o : model.observables()) options.observables.emplace_back(o.name);
  options.default_observable = options.observables.front();
  options.require_observations = false;
  const auto data = io::read_dataset(text, options);
  for (const auto& s : data.subjects) {
    double wt = std::nan("");
    if (auto it = s.covariates.find("WT"); it != s.covariates.end()) wt = it->second;
    for (const auto& d : s.doses) if (std::isnan(wt) && d.dose.weight_kg > 0) wt = d.dose.weight_kg;
    if (!(wt > 0.0))
      throw InputError(text + ":" + std::to_string(s.first_line) + ": subject " + s.id +
                       " has no WT (expected a WT column with a value > 0 kg for every subject)");
    weight.empirical.push_back(wt);
  }
  if (weight.empirical.empty()) throw InputError(text + ": no subjects to take WT values from");
  weight.source = "resampled from " + text;
  return weight;
}

std::vector<Scenario> scenarios_from_options(const Model& model, const VpopCliOptions& opt) {
  std::vector<Scenario> scenarios;
  if (!opt.scenarios.empty()) {
    if (!opt.dose_per_kg.empty())
      throw InputError("--dose-per-kg cannot be combined with --scenarios (put the doses in the scenarios file)");
    scenarios = io::read_scenarios_file(opt.scenarios);
  } else if (!opt.dose_per_kg.empty()) {
    for (double dose : parse_number_list(opt.dose_per_kg, "--dose-per-kg")) {
      if (!(dose > 0.0)) throw InputError("--dose-per-kg " + number_text(dose) + ": expected cells/kg > 0");
      Scenario s;
      s.name = "dose_" + number_text(dose);
      s.origin = "--dose-per-kg " + number_text(dose);
      s.dose_per_kg = dose;
      scenarios.push_back(s);
    }
  } else {
    scenarios.push_back(Scenario{"base", "the base scenario", {}, {}, {}, {}, {}});
  }
  if (!opt.lymphodepletion.empty() && opt.lymphodepletion != "on" && opt.lymphodepletion != "off")
    throw InputError("--lymphodepletion '" + opt.lymphodepletion + "': expected on or off");
  for (auto& s : scenarios) {
    if (!opt.product.empty() && s.product.empty()) s.product = opt.product;
    if (!opt.lymphodepletion.empty() && !s.lymphodepletion) s.lymphodepletion = opt.lymphodepletion == "on";
  }
  (void)model;
  return scenarios;
}
}  // namespace

VpopSettings settings_from_options(const Model& model, const VpopCliOptions& opt, bool times_given, bool grid_given) {
  VpopSettings s;
  if (opt.n <= 0) throw InputError("--n " + std::to_string(opt.n) + ": expected a number of patients > 0");
  if (opt.keep_trajectories < 0) throw InputError("--keep-trajectories: expected a number >= 0");
  if (times_given && grid_given) throw InputError("--times cannot be combined with --end/--step (choose one grid)");
  check_solver_options(opt.solver);
  s.n_patients = static_cast<std::size_t>(opt.n);
  s.seed = opt.seed;
  s.times_day = times_given ? parse_number_list(opt.times, "--times") : time_grid(opt.end_day, opt.step_day);
  s.scenarios = scenarios_from_options(model, opt);
  s.quantile_levels = parse_number_list(opt.quantiles, "--quantiles");
  s.keep_trajectories = static_cast<std::size_t>(opt.keep_trajectories);
  for (const auto& [value, option] : {std::pair{opt.auc_end_day, "--auc-end"}, {opt.late_day, "--late-day"},
                                      {opt.aplasia_threshold, "--aplasia-threshold"}, {opt.qpcr_lloq, "--qpcr-lloq"}})
    if (!(value > 0.0) || !std::isfinite(value))
      throw InputError(std::string(option) + " " + number_text(value) + ": expected a number > 0");
  s.metrics = {opt.auc_end_day, opt.late_day, opt.aplasia_threshold, 0.5, opt.qpcr_lloq};
  s.method = opt.solution.empty() ? (model.has_closed_form() ? "closed" : "ode") : opt.solution;
  s.solver = opt.solver;
  s.covariates = {weight_distribution(model, opt.covariates)};
  return s;
}

}  // namespace cartpk::cli
