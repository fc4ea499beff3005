// `cartpk fit`: per-subject fits of a model to a NONMEM-style dataset; estimates, uncertainty, profiles and
// diagnostics to HDF5 and a CSV table.
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fitting/subject_fit.hpp"
#include "fitting/subject_fit_codec.hpp"
#include "io/atomic_file.hpp"
#include "io/dataset.hpp"
#include "io/prior_file.hpp"
#include "parallel/distributed_cohort.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/analysis_options.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/fit_output.hpp"
#include "tools/rank_checks.hpp"

namespace cartpk::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

struct FitCliOptions {
  std::string model, data, estimate, prior, iiv = "variance", profile, ids, solution, out, table;
  std::string ci_calibration = "auto";  // profile intervals: auto, chi2 or f
  io::DatasetChoices dataset;         // --dvid, --sep, --ignore, --accept
  std::string warnings = "summary";   // --warnings: summary, all or none
  std::vector<std::string> fix, init, error, bounds;
  int starts = 10, threads = 0, maxeval = 4000;
  std::optional<int> kink_scan;  // unset: the optimiser's choice (piecewise models 1, smooth ones 0)
  unsigned long seed = 1;
  bool quiet = false;
  SolverOptions solver;  // --rtol, --atol-scale
};

int index_or_throw(const Model& model, const std::string& name, const std::string& option) {
  const int i = model.parameter_index(name);
  if (i < 0) {
    std::vector<std::string> names;
    for (const auto& p : model.parameters()) names.emplace_back(p.name);
    const auto near = io::did_you_mean(name, names);
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
    throw InputError(option + ": model " + std::string(model.name()) + " has no parameter '" + name + "'" +
                     (near.empty() ? " (expected one of: " + all + ")" : " (did you mean '" + near + "'?)"));
  }
  return i;
}

// --error OBS=TYPE[:v1[:v2]][:fixed]
void apply_error_options(const Model& model, const std::vector<std::string>& specs,
                         std::vector<fitting::ErrorModel>& errors) {
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos) throw InputError("--error '" + spec + "': expected OBS=TYPE[:v1[:v2]][:fixed]");
    const std::string obs = spec.substr(0, eq);
    const int j = model.observable_index(obs);
    if (j < 0) {
      std::string all;
      for (const auto& o : model.observables()) all += (all.empty() ? "" : ", ") + std::string(o.name);
      throw InputError("--error '" + spec + "': model " + std::string(model.name()) + " has no observable '" + obs +
                       "' (expected one of: " + all + ")");
    }
    auto parts = split(std::string_view(spec).substr(eq + 1), ':');
    fitting::ErrorModel em;
    try {
      em.type = fitting::parse_error_type(parts.front());
    } catch (const InputError& e) {
      throw InputError("--error '" + spec + "': " + e.what());
    }
    if (parts.back() == "fixed") {
      em.estimated = false;
      parts.pop_back();
    }
    std::vector<double> values;
    for (std::size_t k = 1; k < parts.size(); ++k) values.push_back(parse_number(parts[k], "--error " + obs));
    if (static_cast<int>(values.size()) > em.n_parameters())
      throw InputError("--error '" + spec + "': " + fitting::error_type_name(em.type) + " takes " +
                       std::to_string(em.n_parameters()) + " value(s)");
    for (double v : values)
      if (!(v > 0.0)) throw InputError("--error '" + spec + "': error parameters must be > 0");
    if (em.type == fitting::ErrorType::proportional && values.empty()) values = {0.2};
    if (em.type == fitting::ErrorType::combined && values.size() < 2) values.resize(2, 0.2);
    if (!values.empty()) {
      if (em.type == fitting::ErrorType::combined || values.size() == static_cast<std::size_t>(em.n_parameters()))
        em.set_parameter_values(values.data());
    }
    if (!em.estimated && static_cast<int>(values.size()) < em.n_parameters())
      throw InputError("--error '" + spec + "': a fixed error model needs its value(s)");
    errors[static_cast<std::size_t>(j)] = em;
  }
}

// Everything a fit needs, read and checked before any fitting (on every MPI rank alike).
struct PreparedFit {
  fitting::FitSetup setup;
  fitting::FitOptions fit_options;
  std::vector<Subject> subjects;
  std::string prior_description;
};

PreparedFit prepare_fit(const FitCliOptions& opt) {
  const bool root = parallel::world().rank() == 0;  // outputs are rank 0's
  const Model& model = find_model(opt.model);
  std::vector<std::filesystem::path> inputs{opt.data};
  if (!opt.prior.empty() && opt.prior != "published") inputs.emplace_back(opt.prior);
  if (root) io::check_output_path(opt.out, "--out", inputs);
  if (root && !opt.table.empty()) {
    inputs.emplace_back(opt.out);
    io::check_output_path(opt.table, "--table", inputs);
  }
  if (opt.starts < 1) throw InputError("--starts " + std::to_string(opt.starts) + ": expected at least 1");
  if (opt.threads < 0) throw InputError("--threads " + std::to_string(opt.threads) + ": expected 0 (all cores) or more");
  if (opt.maxeval < 0) throw InputError("--maxeval " + std::to_string(opt.maxeval) + ": expected 0 (evaluate only) or more");
  if (opt.iiv != "variance" && opt.iiv != "sd") throw InputError("--iiv '" + opt.iiv + "': expected variance or sd");

  fitting::FitSetup setup;
  setup.model = &model;
  setup.method = !opt.solution.empty() ? opt.solution : (model.has_closed_form() ? "closed" : "ode");
  if (setup.method != "ode" && setup.method != "closed") throw InputError("--solution '" + setup.method + "': expected ode or closed");
  if (setup.method == "closed" && !model.has_closed_form())
    throw InputError("--solution closed: model " + std::string(model.name()) + " has no closed form");
  check_solver_options(opt.solver);
  setup.solver_options = opt.solver;
  setup.parameters = model.default_parameters();
  apply_parameter_assignments(model, opt.fix, setup.parameters, "--fix");
  apply_parameter_assignments(model, opt.init, setup.parameters, "--init");
  std::set<int> fixed;
  for (const auto& f : opt.fix) fixed.insert(index_or_throw(model, f.substr(0, f.find('=')), "--fix"));
  if (!opt.estimate.empty()) {
    setup.estimated = parse_parameter_names(model, opt.estimate, "--estimate");
  } else {
    for (auto name : model.default_estimated()) {
      const int i = model.parameter_index(name);
      if (!fixed.count(i)) setup.estimated.push_back(i);
    }
  }
  for (int i : setup.estimated)
    if (fixed.count(i))
      throw InputError("--fix/--estimate: parameter " + std::string(model.parameters()[static_cast<std::size_t>(i)].name) +
                       " is both fixed and estimated (expected one or the other)");
  for (const auto& f : opt.init) {
    const int i = index_or_throw(model, f.substr(0, f.find('=')), "--init");
    if (std::find(setup.estimated.begin(), setup.estimated.end(), i) == setup.estimated.end())
      throw InputError("--init '" + f + "': the parameter is not estimated (use --fix to set a fixed value)");
  }
  for (int i : setup.estimated) {
    setup.lower.push_back(model.parameters()[static_cast<std::size_t>(i)].lower);
    setup.upper.push_back(model.parameters()[static_cast<std::size_t>(i)].upper);
  }
  for (const auto& b : opt.bounds) {  // name=lo:hi
    const auto eq = b.find('='), colon = b.find(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq)
      throw InputError("--bounds '" + b + "': expected name=lower:upper");
    const int i = index_or_throw(model, b.substr(0, eq), "--bounds");
    const auto it = std::find(setup.estimated.begin(), setup.estimated.end(), i);
    if (it == setup.estimated.end()) throw InputError("--bounds '" + b + "': the parameter is not estimated");
    const auto k = static_cast<std::size_t>(it - setup.estimated.begin());
    setup.lower[k] = parse_number(b.substr(eq + 1, colon - eq - 1), "--bounds " + b.substr(0, eq) + " lower");
    setup.upper[k] = parse_number(b.substr(colon + 1), "--bounds " + b.substr(0, eq) + " upper");
    if (!(setup.lower[k] < setup.upper[k]))
      throw InputError("--bounds '" + b + "': lower bound " + b.substr(eq + 1, colon - eq - 1) + " is not below upper bound " +
                       b.substr(colon + 1) + " (expected name=lower:upper with lower < upper)");
  }
  setup.error_models.assign(model.n_observables(), fitting::ErrorModel{});
  apply_error_options(model, opt.error, setup.error_models);

  std::string prior_description = "none (maximum likelihood)";
  if (!opt.prior.empty()) {
    std::vector<std::string> names;
    for (const auto& p : model.parameters()) names.emplace_back(p.name);
    if (opt.prior == "published") {
      for (int i : setup.estimated) {
        const auto& spec = model.parameters()[static_cast<std::size_t>(i)];
        if (spec.iiv_omega2 <= 0.0) continue;
        const double omega2 = opt.iiv == "variance" ? spec.iiv_omega2 : spec.iiv_omega2 * spec.iiv_omega2;
        setup.priors.push_back({i, spec.default_value, omega2});
      }
      if (setup.priors.empty()) {  // no prior would be used: say so rather than fit plain ML under a MAP label
        const bool any = std::any_of(model.parameters().begin(), model.parameters().end(),
                                     [](const ParameterSpec& p) { return p.iiv_omega2 > 0.0; });
        throw InputError("--prior published: model " + std::string(model.name()) +
                         (any ? " has no published variability (IIV) for the estimated parameters"
                              : " has no published variability (IIV)") +
                         " (expected a prior file, docs/priors.md, or no --prior for maximum likelihood)");
      }
      prior_description = "-2 ln N(ln theta; ln typical, omega2) incl. ln(2 pi omega2), published IIV read as " + opt.iiv;
    } else {
      for (const auto& entry : io::read_prior_file(opt.prior, names)) {
        const int i = model.parameter_index(entry.parameter);
        if (std::find(setup.estimated.begin(), setup.estimated.end(), i) == setup.estimated.end())
          throw InputError(opt.prior + ":" + std::to_string(entry.line) + ": prior on " + entry.parameter + ", which is " +
                           (fixed.count(i) ? "fixed by --fix" : "not estimated") + " (expected priors on estimated parameters only)");
        setup.priors.push_back({i, entry.typical, entry.omega2});
      }
      prior_description = "-2 ln N(ln theta; ln typical, omega2) incl. ln(2 pi omega2), from " + opt.prior;
    }
  }
  fitting::validate_setup(setup);

  fitting::FitOptions fit_options;
  fit_options.optimizer.starts = opt.starts;
  fit_options.optimizer.seed = opt.seed;
  fit_options.optimizer.max_evaluations = opt.maxeval;
  if (opt.kink_scan) {
    if (*opt.kink_scan < 0)
      throw InputError("--kink-scan " + std::to_string(*opt.kink_scan) + ": expected 0 or more rounds");
    fit_options.optimizer.kink_scan_rounds = *opt.kink_scan;
  }
  if (!opt.profile.empty())
    for (int i : parse_parameter_names(model, opt.profile, "--profile")) {
      if (std::find(setup.estimated.begin(), setup.estimated.end(), i) == setup.estimated.end())
        throw InputError("--profile: " + std::string(model.parameters()[static_cast<std::size_t>(i)].name) + " is not estimated");
      fit_options.profile.push_back(i);
    }
  if (opt.ci_calibration == "chi2") fit_options.ci_calibration = fitting::CiCalibration::chi_square;
  else if (opt.ci_calibration == "f") fit_options.ci_calibration = fitting::CiCalibration::f_small_sample;
  else if (opt.ci_calibration != "auto")
    throw InputError("--ci-calibration '" + opt.ci_calibration + "': expected auto, chi2 or f");

  // The data: validated whole before anything is fitted.
  const auto warning_detail = io::parse_warning_detail(opt.warnings, "--warnings");
  auto data = io::read_dataset(opt.data, io::dataset_options(model, opt.dataset));
  for (const auto& w : io::warning_lines(data.warnings, warning_detail)) std::fprintf(stderr, "cartpk: warning: %s\n", w.c_str());
  std::vector<Subject> subjects;
  if (opt.ids.empty()) {
    subjects = data.subjects;
  } else {
    for (const auto& id : split(opt.ids, ',')) {
      auto it = std::find_if(data.subjects.begin(), data.subjects.end(), [&](const Subject& s) { return s.id == id; });
      if (it == data.subjects.end()) {
        std::string known;
        for (std::size_t k = 0; k < data.subjects.size() && k < 20; ++k) known += (k ? ", " : "") + data.subjects[k].id;
        if (data.subjects.size() > 20) known += ", ...";
        throw InputError("--ids: no subject '" + id + "' in " + opt.data + " (expected IDs from: " + known + ")");
      }
      subjects.push_back(*it);
    }
  }
  // Records before the infusion enter the fit only where the model defines its course there.
  if (const auto note = io::leave_out_before_infusion(model, subjects, opt.data); !note.empty() && root &&
      warning_detail != io::WarningDetail::none)
    std::fprintf(stderr, "cartpk: note: %s\n", note.c_str());
  fitting::validate_subjects(setup, subjects, opt.data);
  return {std::move(setup), std::move(fit_options), std::move(subjects), std::move(prior_description)};
}

void run_fit(const FitCliOptions& opt, Context& context) {
  const auto& mpi = parallel::world();
  auto prepared = checked_on_every_rank(mpi, [&] { return prepare_fit(opt); });
  const auto& setup = prepared.setup;
  const auto& fit_options = prepared.fit_options;
  const auto& subjects = prepared.subjects;
  const auto& prior_description = prepared.prior_description;

  g_interrupted.store(false);
  auto previous_int = std::signal(SIGINT, on_signal);
  auto previous_term = std::signal(SIGTERM, on_signal);
  const auto progress = [&](const fitting::SubjectFit& fit, std::size_t done, std::size_t total) {
    if (!opt.quiet)
      std::fprintf(stderr, "cartpk fit: %zu/%zu subject %s: %s (OFV %.6g)\n", done, total, fit.id.c_str(),
                   fit.status == fitting::FitStatus::ok ? "ok" : "failed", fit.ofv);
  };
  const auto fit_start = std::chrono::steady_clock::now();
  // Subjects over MPI ranks (each with its threads); rank 0 receives every fit. One process: the thread pool.
  std::vector<fitting::SubjectFit> fits(subjects.size());
  for (std::size_t i = 0; i < subjects.size(); ++i) fits[i].id = subjects[i].id;
  std::size_t done = 0;
  parallel::run_distributed(
      mpi, subjects.size(), {opt.threads, &g_interrupted},
      [&] { return make_solver(*setup.model, setup.method, setup.solver_options); },
      [&](std::unique_ptr<Solver>& solver, std::size_t i) { return fitting::fit_subject(setup, subjects[i], *solver, fit_options); },
      [&](std::size_t i, fitting::SubjectFit&& fit) {
        fits[i] = std::move(fit);
        progress(fits[i], ++done, subjects.size());
      },
      [](std::unique_ptr<Solver>&) {}, [](ByteWriter& out, const fitting::SubjectFit& fit) { fitting::encode(out, fit); },
      [](ByteReader& in) { return fitting::decode_subject_fit(in); }, [](ByteWriter&) {}, [](ByteReader&) {});
  const std::chrono::duration<double> fit_time = std::chrono::steady_clock::now() - fit_start;
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (mpi.rank() != 0) return;

  FitRun run{&setup, &subjects, &fits, opt.data, prior_description, g_interrupted.load(), fit_time.count(),
             std::string(fitting::calibration_name(fitting::chosen_calibration(setup, fit_options)))};
  io::AtomicOutput h5(opt.out);
  write_fit_h5(h5.temporary_path(), {CARTPK_VERSION, context.command_line}, run);
  std::unique_ptr<io::AtomicOutput> table;
  if (!opt.table.empty()) {
    table = std::make_unique<io::AtomicOutput>(opt.table);
    write_fit_table(table->temporary_path(), run);
  }
  io::commit_together({&h5, table.get()});
  print_fit_table(run);
  std::size_t failed = 0;
  for (const auto& f : fits) failed += f.status == fitting::FitStatus::failed;
  if (run.interrupted) {
    std::fprintf(stderr, "cartpk fit: interrupted; the subjects completed so far are written to %s\n", opt.out.c_str());
    context.exit_code = 130;
  } else if (failed > 0) {
    std::fprintf(stderr, "cartpk fit: %zu of %zu subjects failed (see their status)\n", failed, fits.size());
    context.exit_code = 3;
  }
}

}  // namespace

void add_fit_command(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("fit", "Fit each subject's parameters to a NONMEM-style dataset (ML or MAP)");
  auto opt = std::make_shared<FitCliOptions>();
  cmd->add_option("--model", opt->model, "Model name (see `cartpk models`); required");
  cmd->add_option("--data", opt->data, "NONMEM-style CSV (docs/dataset-format.md); required");
  cmd->add_option("--estimate", opt->estimate, "Parameters to estimate, p1,p2,... (default: the model's usual set)");
  cmd->add_option("--fix", opt->fix, "Fix a parameter: name=value (repeatable)")->take_all();
  cmd->add_option("--init", opt->init, "Initial value of an estimate: name=value (repeatable; default: the model's)")->take_all();
  cmd->add_option("--bounds", opt->bounds, "Bounds of an estimate: name=lower:upper (repeatable)")->take_all();
  cmd->add_option("--error", opt->error, "Error model: OBS=TYPE[:v1[:v2]][:fixed], TYPE additive|proportional|combined|lognormal (default lognormal:0.5, estimated)")->take_all();
  cmd->add_option("--prior", opt->prior, "MAP fitting: 'published' (the model's IIV) or a TOML prior file (docs/priors.md)");
  cmd->add_option("--iiv", opt->iiv, "How published IIV values are read: variance (omega^2, default, as nlmixr2lib) or sd");
  cmd->add_option("--starts", opt->starts, "Optimiser starts per subject (default 10)");
  cmd->add_option("--kink-scan", opt->kink_scan,
                  "Rounds of the scan across kinks (events at sampling times) around the best optimum (default: 1 for piecewise models such as stein2019, 0 for smooth ODE models)");
  cmd->add_option("--seed", opt->seed, "Seed of the Latin-hypercube starts (default 1)");
  cmd->add_option("--threads", opt->threads, "Threads (default 0: all cores); results do not depend on it");
  cmd->add_option("--profile", opt->profile, "Profile-likelihood 95 % CIs for these estimates, p1,p2,...");
  cmd->add_option("--ci-calibration", opt->ci_calibration,
                  "Profile CI calibration: auto (default: f when a residual SD is estimated, else chi2), chi2 "
                  "(asymptotic, 3.84) or f (small-sample, n ln(1 + F(1, n-p)/(n-p)); docs/fitting.md)");
  cmd->add_option("--ids", opt->ids, "Fit only these subject IDs, comma-separated");
  cmd->add_option("--dvid", opt->dataset.dvid, "DVID (or CMT) values to observables, e.g. 1=qpcr,2=flow (other types are skipped); or one name when there is no DVID column");
  cmd->add_option("--sep", opt->dataset.sep, "Dataset separator: comma, semicolon, tab, whitespace (default: detected from the header)");
  cmd->add_option("--ignore", opt->dataset.ignore, "Drop dataset records meeting COLUMN OP VALUE, e.g. \"DVID==5\" (OP == != < <= > >=; repeatable)")->take_all();
  cmd->add_option("--accept", opt->dataset.accept, "Keep only dataset records meeting COLUMN OP VALUE, e.g. \"TIME<=365\" (repeatable: all must hold)")->take_all();
  cmd->add_option("--warnings", opt->warnings, "Dataset warnings: summary (one line per kind, default), all or none");
  cmd->add_option("--solution", opt->solution, "ode or closed (default: closed where the model has one)");
  cmd->add_option("--maxeval", opt->maxeval, "Objective evaluations per start (default 4000; 0: only evaluate the OFV at the initial values)");
  add_solver_options(*cmd, opt->solver);
  cmd->add_flag("--quiet", opt->quiet, "No progress on stderr");
  cmd->add_option("--out", opt->out, "HDF5 output (written atomically); required");
  cmd->add_option("--table", opt->table, "CSV table, one row per subject");
  auto config = std::make_shared<AnalysisOptions>(
      *cmd, AnalysisOptions::Roles{{"--model", "--data", "--out"}, {"--data", "--prior"}, {"--out", "--table"}});
  cmd->callback([opt, config, &context] {
    config->apply();
    config->run([&] { run_fit(*opt, context); });
  });
}

}  // namespace cartpk::cli
