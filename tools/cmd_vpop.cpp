// `cartpk vpop`: a virtual population through one or more dose scenarios: sample patients, simulate, summarise
// (bands, metric quantiles, event fractions), stream every finished patient to the HDF5 file and the table.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/dataset.hpp"
#include "io/population_file.hpp"
#include "io/vpop_export.hpp"
#include "parallel/distributed_cohort.hpp"
#include "pkmodel/cohort.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/registry.hpp"
#include "pkmodel/vpop.hpp"
#include "tools/analysis_options.hpp"
#include "tools/cli_values.hpp"
#include "tools/commands.hpp"
#include "tools/rank_checks.hpp"
#include "tools/vpop_options.hpp"
#include "tools/vpop_run.hpp"

namespace cartpk::cli {

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_vpop_signal(int) { g_interrupted.store(true); }

// Per scenario: median [5–95 %] of the main metrics.
// `file_quantiles`: per scenario, the metric quantiles at the settings' levels, used where they include these.
void print_summary(const VirtualPopulation& vpop, const std::vector<ScenarioSummary>& summaries,
                   const std::vector<std::vector<double>>& file_quantiles, unsigned threads) {
  const auto& columns = vpop.metric_columns();
  const std::vector<double> levels{0.5, 0.05, 0.95};
  const auto& file_levels = vpop.settings().quantile_levels;
  std::vector<std::size_t> at;  // where each of `levels` is among the file's
  for (double q : levels)
    if (const auto it = std::find(file_levels.begin(), file_levels.end(), q); it != file_levels.end())
      at.push_back(static_cast<std::size_t>(it - file_levels.begin()));
  for (std::size_t s = 0; s < summaries.size(); ++s) {
    const auto& summary = summaries[s];
    std::printf("scenario %s: %llu patients simulated, %llu failed; median [5 - 95 %%]\n",
                vpop.settings().scenarios[s].name.c_str(), static_cast<unsigned long long>(summary.simulated),
                static_cast<unsigned long long>(summary.failed));
    std::vector<double> q;
    if (at.size() == levels.size()) {
      for (std::size_t c = 0; c < columns.size(); ++c)
        for (std::size_t l : at) q.push_back(file_quantiles[s][c * file_levels.size() + l]);
    } else {
      q = summary.metric_quantiles(levels, threads);
    }
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::size_t reached = summary.metric_count(c);
      if (reached == 0) {
        std::printf("  %-26s not reached\n", columns[c].name.c_str());
        continue;
      }
      const double share = summary.simulated ? static_cast<double>(reached) / static_cast<double>(summary.simulated) : 0.0;
      std::printf("  %-26s %12.4g [%.4g - %.4g] %s%s\n", columns[c].name.c_str(), q[c * 3], q[c * 3 + 1], q[c * 3 + 2],
                  columns[c].unit.c_str(),
                  share < 1.0 ? (" (reached by " + std::to_string(static_cast<int>(100.0 * share + 0.5)) + " %)").c_str() : "");
    }
  }
}

void run_vpop(const VpopCliOptions& opt, Context& context, bool times_given, bool grid_given) {
  const auto& mpi = parallel::world();
  const bool root = mpi.rank() == 0;
  const Model& model = find_model(opt.model);
  struct Prepared {
    std::unique_ptr<VirtualPopulation> vpop;
    std::unique_ptr<io::VpopWriter> writer;
  };
  auto prepared = checked_on_every_rank(mpi, [&] {
    auto inputs = vpop_inputs(opt);
    if (root) io::check_output_path(opt.out, "--out", inputs);
    if (root && !opt.table.empty()) {
      inputs.emplace_back(opt.out);
      io::check_output_path(opt.table, "--table", inputs);
    }
    Prepared p;
    p.vpop = std::make_unique<VirtualPopulation>(population_from_options(model, opt),
                                                 settings_from_options(model, opt, times_given, grid_given));
    if (root) p.writer = std::make_unique<io::VpopWriter>(opt.out, opt.table, *p.vpop, io::RunInfo{CARTPK_VERSION, context.command_line});
    return p;
  });
  const VirtualPopulation& vpop = *prepared.vpop;

  g_interrupted.store(false);
  auto previous_int = std::signal(SIGINT, on_vpop_signal);
  auto previous_term = std::signal(SIGTERM, on_vpop_signal);
  const std::size_t n = vpop.settings().n_patients;
  const auto run = run_population(vpop, {opt.threads, opt.quiet, &g_interrupted, "cartpk vpop"},
                                  [&](PatientResult& p) { prepared.writer->append(std::move(p)); });
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (!root) return;
  const bool interrupted = run.delivered < n;
  // Every claimed patient finishes before the pool stops, so after an interruption the summaries cover the patients
  // written (one process); across MPI ranks, patients finished beyond a gap in the order are in the summaries only.
  prepared.writer->hand_over();  // the last patients are written while the metric quantiles are computed
  const unsigned threads = cohort_threads(opt.threads, std::numeric_limits<std::size_t>::max());  // the run's
  std::vector<std::vector<double>> metric_quantiles;  // exact, once: for the file and the printed summary
  for (const auto& summary : run.totals)
    metric_quantiles.push_back(summary.metric_quantiles(vpop.settings().quantile_levels, threads));
  prepared.writer->finish(run.totals, metric_quantiles, !interrupted, run.seconds);
  print_summary(vpop, run.totals, metric_quantiles, threads);
  std::printf("wrote %s%s%s\n", opt.out.c_str(), opt.table.empty() ? "" : " and ", opt.table.c_str());
  if (interrupted) {
    std::fprintf(stderr, "cartpk vpop: interrupted; the %zu patients completed in order are written to %s (marked partial)\n",
                 run.delivered, opt.out.c_str());
    context.exit_code = 130;
  } else if (run.failed_simulations > 0) {
    std::fprintf(stderr, "cartpk vpop: %zu patient-scenario simulations failed (status in the outputs)\n", run.failed_simulations);
    context.exit_code = 3;
  }
}

}  // namespace

void add_vpop_command(CLI::App& app, Context& context) {
  auto* cmd = app.add_subcommand("vpop", "Simulate a virtual population through dose scenarios (bands, metrics, events)");
  auto opt = std::make_shared<VpopCliOptions>();
  auto grid = add_vpop_options(*cmd, *opt);
  auto config = std::make_shared<AnalysisOptions>(
      *cmd, AnalysisOptions::Roles{{"--model", "--n", "--out"}, {"--iiv", "--scenarios", "--covariates"}, {"--out", "--table"}});
  cmd->callback([opt, config, grid, &context] {
    config->apply();
    config->run([&] { run_vpop(*opt, context, grid.times->count() > 0, grid.end->count() + grid.step->count() > 0); });
  });
}

}  // namespace cartpk::cli
