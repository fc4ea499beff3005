// `cartpk popfit`: a population (NLME) fit by SAEM or FOCE-I; population estimates, EBEs and diagnostics to HDF5
// and two CSV tables.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fitting/population_fit.hpp"
#include "io/atomic_file.hpp"
#include "io/population_file.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "tools/analysis_options.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/fit_setup.hpp"
#include "tools/mpi_subject_exchange.hpp"
#include "tools/popfit_output.hpp"
#include "tools/rank_checks.hpp"

namespace cartpk::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_popfit_signal(int) { g_interrupted.store(true); }

struct PopfitCliOptions {
  FitCliOptions fit;  // model, data, estimates, bounds, errors, dataset and solver options, --out, --table
  std::string iiv, omega_init, method = "saem", saem_iterations = "300,100", saem_exploration = "auto", pop_table;
  std::vector<std::string> covariates;
  bool omega_full = false;
  int chains = 0, importance_samples = 1000, npde_samples = 1000, maxeval = 3000;
};

// "cmax~WT:power[:reference]", "cmax~WT:exponential[:reference]" or "cmax~PRODUCT:categorical:LEVEL".
fitting::CovariateEffect parse_covariate(const Model& model, const std::string& text) {
  const auto tilde = text.find('~');
  const auto parts = split(tilde == std::string::npos ? "" : text.substr(tilde + 1), ':');
  if (tilde == std::string::npos || parts.size() < 2 || parts[0].empty())
    throw InputError("--covariate '" + text + "': expected PARAMETER~COLUMN:power|exponential[:reference] or "
                     "PARAMETER~COLUMN:categorical:LEVEL");
  fitting::CovariateEffect effect;
  effect.parameter = parse_parameter_names(model, text.substr(0, tilde), "--covariate '" + text + "'").front();
  effect.covariate = parts[0];
  if (parts[1] == "power") effect.form = fitting::EffectForm::power;
  else if (parts[1] == "exponential") effect.form = fitting::EffectForm::exponential;
  else if (parts[1] == "categorical") effect.form = fitting::EffectForm::categorical;
  else throw InputError("--covariate '" + text + "': form '" + parts[1] + "' (expected power, exponential or categorical)");
  if (effect.form == fitting::EffectForm::categorical) {
    if (parts.size() != 3 || parts[2].empty())
      throw InputError("--covariate '" + text + "': a categorical effect names the level coded 1 (COLUMN:categorical:LEVEL)");
    effect.level = parts[2];
  } else if (parts.size() == 3) {
    effect.reference = parse_number(parts[2], "--covariate '" + text + "' reference");
    if (effect.form == fitting::EffectForm::power && !(effect.reference > 0.0))
      throw InputError("--covariate '" + text + "': a power model's reference must be > 0");
  } else if (parts.size() > 3) {
    throw InputError("--covariate '" + text + "': too many ':' fields");
  }
  return effect;
}

fitting::PopulationSetup population_setup(const PopfitCliOptions& opt, fitting::FitSetup base,
                                          const std::vector<Subject>& subjects) {
  const Model& model = *base.model;
  fitting::PopulationSetup setup;
  setup.base = std::move(base);
  PopulationModel initial;
  if (!opt.omega_init.empty()) initial = io::read_iiv_file(opt.omega_init, model);  // Ω checked there (file, line)
  setup.random_effects = !opt.iiv.empty()            ? parse_parameter_names(model, opt.iiv, "--iiv")
                         : !opt.omega_init.empty() ? initial.random_effects
                                                   : setup.base.estimated;
  const auto n = static_cast<Eigen::Index>(setup.random_effects.size());
  setup.omega = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index a = 0; a < n; ++a) {
    const int p = setup.random_effects[static_cast<std::size_t>(a)];
    const double published = model.parameters()[static_cast<std::size_t>(p)].iiv_omega2;
    setup.omega(a, a) = published > 0.0 ? published : 0.1;  // a start; the fit estimates it
    for (Eigen::Index b = 0; b < static_cast<Eigen::Index>(initial.random_effects.size()); ++b)
      if (initial.random_effects[static_cast<std::size_t>(b)] == p) {
        for (Eigen::Index c = 0; c < n; ++c)
          for (Eigen::Index d = 0; d < static_cast<Eigen::Index>(initial.random_effects.size()); ++d)
            if (initial.random_effects[static_cast<std::size_t>(d)] == setup.random_effects[static_cast<std::size_t>(c)])
              setup.omega(a, c) = initial.omega(b, d);
      }
  }
  setup.omega_full = opt.omega_full;
  if (!setup.omega_full) setup.omega = Eigen::MatrixXd(setup.omega.diagonal().asDiagonal());
  for (const auto& c : opt.covariates) setup.effects.push_back(parse_covariate(model, c));
  fitting::prepare_population_setup(setup, subjects, opt.fit.data);
  return setup;
}

fitting::PopulationOptions population_options(const PopfitCliOptions& opt) {
  fitting::PopulationOptions o;
  if (opt.method == "saem") o.method = fitting::PopulationMethod::saem;
  else if (opt.method == "focei") o.method = fitting::PopulationMethod::focei;
  else throw InputError("--method '" + opt.method + "': expected saem or focei");
  const auto k = parse_number_list(opt.saem_iterations, "--saem-iterations");
  if (k.size() != 2 || k[0] < 1 || k[1] < 1 || k[0] != std::floor(k[0]) || k[1] != std::floor(k[1]))
    throw InputError("--saem-iterations '" + opt.saem_iterations + "': expected two whole numbers ≥ 1, K1,K2 (exploration, smoothing)");
  o.saem_explore = static_cast<int>(k[0]);
  o.saem_smooth = static_cast<int>(k[1]);
  if (opt.saem_exploration != "auto" && opt.saem_exploration != "fixed")
    throw InputError("--saem-exploration '" + opt.saem_exploration + "': expected auto or fixed");
  o.saem_auto_stop = opt.saem_exploration == "auto";
  if (opt.chains < 0) throw InputError("--chains " + std::to_string(opt.chains) + ": expected 0 (automatic) or more");
  if (opt.importance_samples < 0) throw InputError("--is-samples " + std::to_string(opt.importance_samples) + ": expected 0 or more");
  if (opt.npde_samples < 0 || opt.npde_samples == 1)
    throw InputError("--npde-samples " + std::to_string(opt.npde_samples) + ": expected 0 (no NPDE) or at least 2 replicates");
  if (opt.maxeval < 1) throw InputError("--maxeval " + std::to_string(opt.maxeval) + ": expected at least 1");
  o.saem_chains = opt.chains;
  o.importance_samples = opt.importance_samples;
  o.npde_samples = opt.npde_samples;
  o.focei_max_evaluations = opt.maxeval;
  o.threads = opt.fit.threads;
  o.seed = opt.fit.seed;
  o.cancel = &g_interrupted;
  return o;
}

void run_popfit(const PopfitCliOptions& opt, Context& context) {
  const auto& mpi = parallel::world();
  auto prepared = checked_on_every_rank(mpi, [&] {
    auto p = prepare_fit(opt.fit);
    if (!opt.pop_table.empty() && mpi.rank() == 0) {
      std::vector<std::filesystem::path> others{opt.fit.data, opt.fit.out};
      if (!opt.fit.table.empty()) others.emplace_back(opt.fit.table);
      io::check_output_path(opt.pop_table, "--pop-table", others);
    }
    return p;
  });
  const auto setup = checked_on_every_rank(mpi, [&] { return population_setup(opt, prepared.setup, prepared.subjects); });
  auto options = checked_on_every_rank(mpi, [&] { return population_options(opt); });
  const MpiSubjectExchange exchange(mpi);  // subjects over MPI ranks (each with its threads)
  if (mpi.distributed()) options.exchange = &exchange;
  g_interrupted.store(false);
  auto previous_int = std::signal(SIGINT, on_popfit_signal);
  auto previous_term = std::signal(SIGTERM, on_popfit_signal);
  const auto progress = [&](const fitting::PopulationIteration& it) {
    if (opt.fit.quiet || (it.phase != "focei" && it.iteration % 10 != 0)) return;
    std::fprintf(stderr, "cartpk popfit: %s %d: objective %.6g; typical (estimation scale)", it.phase.c_str(),
                 it.iteration, it.objective);
    for (Eigen::Index k = 0; k < it.mu.size(); ++k) std::fprintf(stderr, " %.4g", it.mu(k));
    std::fprintf(stderr, "\n");
  };
  const auto result = fitting::fit_population(setup, prepared.subjects, options, progress);
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (mpi.rank() != 0) return;  // rank 0 writes the one result

  const PopfitRun run{&setup, &prepared.subjects, &result, opt.fit.data, opt.fit.seed};
  io::AtomicOutput h5(opt.fit.out);
  write_popfit_h5(h5.temporary_path(), {CARTPK_VERSION, context.command_line}, run);
  std::unique_ptr<io::AtomicOutput> table, pop_table;
  if (!opt.fit.table.empty()) {
    table = std::make_unique<io::AtomicOutput>(opt.fit.table);
    write_popfit_subject_table(table->temporary_path(), run);
  }
  if (!opt.pop_table.empty()) {
    pop_table = std::make_unique<io::AtomicOutput>(opt.pop_table);
    write_popfit_population_table(pop_table->temporary_path(), run);
  }
  io::commit_together({&h5, table.get(), pop_table.get()});
  print_popfit_summary(run);
  std::size_t failed = 0;
  for (const auto& s : result.subjects) failed += !s.ok;
  if (result.interrupted) {
    std::fprintf(stderr, "cartpk popfit: interrupted; the last completed iteration is written to %s (marked partial)\n",
                 opt.fit.out.c_str());
    context.exit_code = 130;
  } else if (failed > 0) {
    std::fprintf(stderr, "cartpk popfit: %zu of %zu subjects have no feasible conditional mode (see their status)\n",
                 failed, result.subjects.size());
    context.exit_code = 3;
  }
}

}  // namespace

void add_popfit_command(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("popfit", "Population (NLME) fit by SAEM or FOCE-I: typical values, Omega, covariate effects, EBEs");
  auto opt = std::make_shared<PopfitCliOptions>();
  add_setup_options(*cmd, opt->fit);
  cmd->add_option("--iiv", opt->iiv, "Parameters with log-normal random effects, p1,p2,... (default: every estimated one)");
  cmd->add_option("--omega-init", opt->omega_init, "Starting Omega from an IIV TOML file (docs/vpop.md format; default: published omega^2, else 0.1)");
  cmd->add_flag("--omega-full", opt->omega_full, "Estimate the correlations of the random effects (full Omega; default diagonal)");
  cmd->add_option("--covariate", opt->covariates,
                  "Covariate effect PARAM~COLUMN:power|exponential[:reference] (default reference: the median) or "
                  "PARAM~COLUMN:categorical:LEVEL (repeatable)")->take_all();
  cmd->add_option("--method", opt->method, "saem (default) or focei");
  cmd->add_option("--saem-iterations", opt->saem_iterations,
                  "SAEM exploration (at most, with --saem-exploration auto) and smoothing iterations K1,K2 (default 300,100)");
  cmd->add_option("--saem-exploration", opt->saem_exploration,
                  "auto (default): the exploration ends once its estimates stop drifting over 50 iterations, and "
                  "annealing once it holds no variance up; fixed: K1 iterations, annealing for the first half");
  cmd->add_option("--chains", opt->chains, "SAEM MCMC chains per subject (default 0: ceil(50/N))");
  cmd->add_option("--is-samples", opt->importance_samples, "Importance samples per subject for the SAEM -2LL (default 1000; 0: FOCE-I approximation)");
  cmd->add_option("--npde-samples", opt->npde_samples,
                  "Replicates per subject behind the pd and NPDE of every record (default 1000; 0: none)");
  cmd->add_option("--maxeval", opt->maxeval, "FOCE-I: objective evaluations of each outer pass (default 3000)");
  cmd->add_option("--seed", opt->fit.seed, "Seed of SAEM's and the NPDE's random streams (default 1)");
  cmd->add_option("--threads", opt->fit.threads, "Threads (default 0: all cores); results do not depend on it");
  cmd->add_flag("--quiet", opt->fit.quiet, "No progress on stderr");
  cmd->add_option("--out", opt->fit.out, "HDF5 output (written atomically); required");
  cmd->add_option("--table", opt->fit.table, "CSV, one row per subject: EBE of every parameter, eta, FOCE-I term, status");
  cmd->add_option("--pop-table", opt->pop_table, "CSV, one row per population parameter: estimate, SE, RSE");
  auto config = std::make_shared<AnalysisOptions>(
      *cmd, AnalysisOptions::Roles{{"--model", "--data", "--out"}, {"--data", "--omega-init"}, {"--out", "--table", "--pop-table"}});
  cmd->callback([opt, config, &context] {
    config->apply();
    config->run([&] { run_popfit(*opt, context); });
  });
}

}  // namespace cartpk::cli
