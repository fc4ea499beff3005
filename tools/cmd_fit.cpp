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
#include "tools/fit_setup.hpp"
#include "tools/rank_checks.hpp"

namespace cartpk::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted.store(true); }

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
  add_setup_options(*cmd, *opt);
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
  cmd->add_option("--information", opt->information,
                  "Standard errors from the expected information (default: Gauss-Newton from the sensitivities, one "
                  "solve) or the observed information (central differences of the gradient; docs/fitting.md)");
  cmd->add_option("--maxeval", opt->maxeval, "Objective evaluations per start (default 4000; 0: only evaluate the OFV at the initial values)");
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
