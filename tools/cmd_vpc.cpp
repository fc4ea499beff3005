// `cartpk vpc`: a visual predictive check of a population fit (cartpk popfit) against a dataset; the replicates,
// binning and statistics are fitting/vpc's, the HDF5 and the summary tools/vpc_output's.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fitting/vpc.hpp"
#include "io/atomic_file.hpp"
#include "io/dataset.hpp"
#include "io/h5_reader.hpp"
#include "io/population_h5.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/vpc_output.hpp"

namespace cartpk::cli {

namespace {

std::atomic<bool> g_vpc_interrupted{false};
extern "C" void on_vpc_signal(int) { g_vpc_interrupted.store(true); }

struct VpcCliOptions {
  std::string fit, data, bins = "auto", out, warnings = "summary";
  io::DatasetChoices dataset;
  int replicates = 0, threads = 0;
  unsigned long seed = 1;
  bool pred_corrected = false, quiet = false;
};

// The residual error model of each observable: /popfit/error_models and error_values when the file has them,
// else from the estimated error parameters' names (sigma_OBS lognormal, a_OBS additive, b_OBS proportional, both
// combined).
std::vector<fitting::ErrorModel> read_error_models(const io::H5Reader& file, const Model& model) {
  std::vector<fitting::ErrorModel> errors(model.n_observables());
  if (file.exists("/popfit/error_models")) {
    const auto types = file.read_strings("/popfit/error_models");
    const auto values = file.read_matrix("/popfit/error_values");
    if (types.size() != errors.size() || static_cast<std::size_t>(values.rows()) != errors.size() || values.cols() != 2)
      throw InputError(file.file() + ": /popfit/error_models has " + std::to_string(types.size()) + " entries for " +
                       std::to_string(errors.size()) + " observables of model " + std::string(model.name()));
    for (std::size_t j = 0; j < errors.size(); ++j) {
      errors[j].type = fitting::parse_error_type(types[j]);
      errors[j].a = values(static_cast<Eigen::Index>(j), 0);
      errors[j].b = values(static_cast<Eigen::Index>(j), 1);
    }
    return errors;
  }
  const auto names = file.read_strings("/popfit/parameters/names");
  const auto estimates = file.read_doubles("/popfit/parameters/estimates");
  auto find = [&](const std::string& name) -> const double* {
    for (std::size_t k = 0; k < names.size() && k < estimates.size(); ++k)
      if (names[k] == name) return &estimates[k];
    return nullptr;
  };
  for (std::size_t j = 0; j < errors.size(); ++j) {
    const std::string obs(model.observables()[j].name);
    const double *sigma = find("sigma_" + obs), *a = find("a_" + obs), *b = find("b_" + obs);
    auto& e = errors[j];
    if (sigma) e = {fitting::ErrorType::lognormal, *sigma, 0.0, true};
    else if (a && b) e = {fitting::ErrorType::combined, *a, *b, true};
    else if (a) e = {fitting::ErrorType::additive, *a, 0.0, true};
    else if (b) e = {fitting::ErrorType::proportional, 0.0, *b, true};
    else e.a = std::nan("");  // not fitted: an observable without records; refused below if the data have some
  }
  return errors;
}

io::H5Reader open_fit(const std::string& path) {
  try {
    return io::H5Reader(path);
  } catch (const InputError& e) {
    throw InputError("--fit: " + std::string(e.what()) + " (expected a cartpk popfit result)");
  }
}

fitting::VpcModel read_fit(const std::string& path) {
  const io::H5Reader file = open_fit(path);
  if (!file.exists("/popfit/population") || !file.has_attribute("/", "model"))
    throw InputError("--fit " + path + ": not a cartpk popfit result (no /popfit/population; expected the --out file of "
                     "cartpk popfit)");
  const Model& model = find_model(file.string_attribute("/", "model"));
  fitting::VpcModel vpc;
  vpc.population = io::read_population(file, "/popfit/population", model);
  // The fit's own random effects and Ω: the VPC simulates η on the scale the fit estimated it (also for files
  // written before /popfit/population recorded the scales).
  if (file.exists("/popfit/random_effects") && file.exists("/popfit/omega")) {
    vpc.population.random_effects.clear();
    vpc.population.eta_scales.clear();
    for (const auto& name : file.read_strings("/popfit/random_effects")) {
      const int i = model.parameter_index(name);
      if (i < 0) throw InputError("--fit " + path + ": random effect '" + name + "' is not a parameter of model " + std::string(model.name()));
      vpc.population.random_effects.push_back(i);
      vpc.population.eta_scales.push_back(eta_scale_for(model.parameters()[static_cast<std::size_t>(i)].domain));
    }
    vpc.population.omega = vpc.population.random_effects.empty() ? Eigen::MatrixXd() : file.read_matrix("/popfit/omega");
    if (vpc.population.omega.rows() != static_cast<Eigen::Index>(vpc.population.random_effects.size()) ||
        vpc.population.omega.cols() != vpc.population.omega.rows())
      throw InputError("--fit " + path + ": /popfit/omega does not match /popfit/random_effects");
  }
  const auto kinds = file.read_strings("/popfit/parameters/kinds");
  const auto n_beta = static_cast<std::size_t>(std::count(kinds.begin(), kinds.end(), "beta"));
  if (n_beta != vpc.population.relations.size())  // files before /popfit/population recorded categorical effects
    throw InputError("--fit " + path + ": the fit has categorical covariate effects that this file does not record "
                     "in /popfit/population (written by an older cartpk; fit again)");
  vpc.errors = read_error_models(file, model);
  vpc.method = model.has_closed_form() ? "closed" : "ode";
  if (file.has_attribute("/popfit", "rtol")) vpc.solver_options.rtol = file.double_attribute("/popfit", "rtol");
  if (file.has_attribute("/popfit", "atol_scale"))
    vpc.solver_options.atol_scale = file.double_attribute("/popfit", "atol_scale");
  return vpc;
}

void run_vpc_command(const VpcCliOptions& opt, Context& context) {
  if (opt.fit.empty()) throw InputError("--fit: required (a cartpk popfit result)");
  if (opt.data.empty()) throw InputError("--data: required (the dataset to check the fit against)");
  if (opt.out.empty()) throw InputError("--out: required (HDF5 output)");
  if (opt.replicates < 1) throw InputError("--replicates " + std::to_string(opt.replicates) + ": expected at least 1");
  if (opt.threads < 0) throw InputError("--threads " + std::to_string(opt.threads) + ": expected 0 (all cores) or more");
  fitting::VpcOptions options;
  options.replicates = opt.replicates;
  options.seed = opt.seed;
  options.threads = opt.threads;
  options.pred_corrected = opt.pred_corrected;
  options.cancel = &g_vpc_interrupted;
  if (opt.bins != "auto") {
    if (opt.bins.find(',') == std::string::npos)
      throw InputError("--bins '" + opt.bins + "': expected auto or increasing edges e1,e2,... (day)");
    options.bin_edges = parse_number_list(opt.bins, "--bins");
  }
  const std::vector<std::filesystem::path> inputs{opt.fit, opt.data};
  io::check_output_path(opt.out, "--out", inputs);
  const auto vpc = read_fit(opt.fit);
  const Model& model = *vpc.population.model;

  const auto warning_detail = io::parse_warning_detail(opt.warnings, "--warnings");
  auto data = io::read_dataset(opt.data, io::dataset_options(model, opt.dataset));
  for (const auto& w : io::warning_lines(data.warnings, warning_detail)) std::fprintf(stderr, "cartpk: warning: %s\n", w.c_str());
  auto subjects = data.subjects;
  if (const auto note = io::leave_out_before_infusion(model, subjects, opt.data);
      !note.empty() && warning_detail != io::WarningDetail::none)
    std::fprintf(stderr, "cartpk: note: %s\n", note.c_str());
  for (const auto& s : subjects)
    for (const auto& o : s.observations)
      if (!std::isfinite(vpc.errors[static_cast<std::size_t>(o.observable)].a))
        throw InputError(opt.data + ": observable " + std::string(model.observables()[static_cast<std::size_t>(o.observable)].name) +
                         " has records but the fit " + opt.fit + " has no residual error model for it");

  g_vpc_interrupted.store(false);
  auto previous_int = std::signal(SIGINT, on_vpc_signal);
  auto previous_term = std::signal(SIGTERM, on_vpc_signal);
  const auto result = fitting::run_vpc(vpc, subjects, options);
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);

  const VpcRun run{&vpc, &result, opt.fit, opt.data, opt.seed, opt.bins == "auto", opt.pred_corrected};
  io::AtomicOutput h5(opt.out);
  write_vpc_h5(h5.temporary_path(), {CARTPK_VERSION, context.command_line}, run);
  h5.commit();
  if (!opt.quiet) print_vpc_summary(run);
  if (result.interrupted) {
    std::fprintf(stderr, "cartpk vpc: interrupted after %d of %d replicates; written to %s (marked partial)\n",
                 result.replicates_done, result.replicates, opt.out.c_str());
    context.exit_code = 130;
  }
}

}  // namespace

void add_vpc_command(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("vpc", "Visual predictive check of a population fit: binned percentiles and BLQ fraction, observed vs simulated");
  auto opt = std::make_shared<VpcCliOptions>();
  cmd->add_option("--fit", opt->fit, "A cartpk popfit result (HDF5); required");
  cmd->add_option("--data", opt->data, "NONMEM-style CSV to check against (docs/dataset-format.md); required");
  cmd->add_option("--replicates", opt->replicates, "Simulated replicates of the study; required (e.g. 200)");
  cmd->add_option("--seed", opt->seed, "Seed of the replicates' random streams (default 1)");
  cmd->add_option("--bins", opt->bins, "Time bins: auto (default; about min(max(3, ceil(n/40)), 15) count-balanced bins) or edges e1,e2,... (day)");
  cmd->add_flag("--pred-corrected", opt->pred_corrected, "Prediction-corrected VPC (pcVPC); refused for data with BLQ records");
  cmd->add_option("--threads", opt->threads, "Threads (default 0: all cores); results do not depend on it");
  cmd->add_option("--dvid", opt->dataset.dvid, "DVID (or CMT) values to observables, e.g. 1=qpcr,2=flow (other types are skipped); or one name when there is no DVID column");
  cmd->add_option("--sep", opt->dataset.sep, "Dataset separator: comma, semicolon, tab, whitespace (default: detected from the header)");
  cmd->add_option("--ignore", opt->dataset.ignore, "Drop dataset records meeting COLUMN OP VALUE, e.g. \"DVID==5\" (OP == != < <= > >=; repeatable)")->take_all();
  cmd->add_option("--accept", opt->dataset.accept, "Keep only dataset records meeting COLUMN OP VALUE, e.g. \"TIME<=365\" (repeatable: all must hold)")->take_all();
  cmd->add_option("--warnings", opt->warnings, "Dataset warnings: summary (one line per kind, default), all or none");
  cmd->add_option("--out", opt->out, "HDF5 output (written atomically); required");
  cmd->add_flag("--quiet", opt->quiet, "No summary on stdout");
  cmd->callback([opt, &context] { run_vpc_command(*opt, context); });
}

}  // namespace cartpk::cli
