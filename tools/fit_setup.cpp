#include "tools/fit_setup.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

#include "io/atomic_file.hpp"
#include "io/did_you_mean.hpp"
#include "io/prior_file.hpp"
#include "parallel/mpi_session.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/cli_values.hpp"

namespace cartpk::cli {

namespace {
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

}  // namespace

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
  try {
    fit_options.information = fitting::parse_information(opt.information);
  } catch (const InputError& e) {
    throw InputError(std::string("--information: ") + e.what());
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


void add_setup_options(CLI::App& command, FitCliOptions& options) {
  command.add_option("--model", options.model, "Model name (see `cartpk models`); required");
  command.add_option("--data", options.data, "NONMEM-style CSV (docs/dataset-format.md); required");
  command.add_option("--estimate", options.estimate, "Parameters to estimate, p1,p2,... (default: the model's usual set)");
  command.add_option("--fix", options.fix, "Fix a parameter: name=value (repeatable)")->take_all();
  command.add_option("--init", options.init, "Initial value of an estimate: name=value (repeatable; default: the model's)")->take_all();
  command.add_option("--bounds", options.bounds, "Bounds of an estimate: name=lower:upper (repeatable)")->take_all();
  command.add_option("--error", options.error, "Error model: OBS=TYPE[:v1[:v2]][:fixed], TYPE additive|proportional|combined|lognormal (default lognormal:0.5, estimated)")->take_all();
  command.add_option("--ids", options.ids, "Fit only these subject IDs, comma-separated");
  command.add_option("--dvid", options.dataset.dvid, "DVID (or CMT) values to observables, e.g. 1=qpcr,2=flow (other types are skipped); or one name when there is no DVID column");
  command.add_option("--sep", options.dataset.sep, "Dataset separator: comma, semicolon, tab, whitespace (default: detected from the header)");
  command.add_option("--ignore", options.dataset.ignore, "Drop dataset records meeting COLUMN OP VALUE, e.g. \"DVID==5\" (OP == != < <= > >=; repeatable)")->take_all();
  command.add_option("--accept", options.dataset.accept, "Keep only dataset records meeting COLUMN OP VALUE, e.g. \"TIME<=365\" (repeatable: all must hold)")->take_all();
  command.add_option("--warnings", options.warnings, "Dataset warnings: summary (one line per kind, default), all or none");
  command.add_option("--solution", options.solution, "ode or closed (default: closed where the model has one)");
  add_solver_options(command, options.solver);
}

}  // namespace cartpk::cli
