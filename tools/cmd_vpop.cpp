// `cartpk vpop`: a virtual population through one or more dose scenarios: sample patients, simulate, summarise
// (bands, metric quantiles, event fractions), stream every finished patient to the HDF5 file and the table.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
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

namespace cartpk::cli {

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_vpop_signal(int) { g_interrupted.store(true); }

// Progress on stderr at most once a second: patients done, rate and time left.
class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), start_(clock::now()), last_(start_) {}
  void update(std::size_t done) {
    const auto now = clock::now();
    if (quiet_ || (now - last_ < std::chrono::seconds(1) && done < total_)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    std::fprintf(stderr, "cartpk vpop: %zu/%zu patients (%.0f %%), %.0f patients/s, ETA %.0f s\n", done, total_,
                 100.0 * static_cast<double>(done) / static_cast<double>(total_), rate, left);
  }
  [[nodiscard]] double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  std::size_t total_;
  bool quiet_;
  clock::time_point start_, last_;
};

// Per scenario: median [5–95 %] of the main metrics.
void print_summary(const VirtualPopulation& vpop, const std::vector<ScenarioSummary>& summaries) {
  const auto& columns = vpop.metric_columns();
  for (std::size_t s = 0; s < summaries.size(); ++s) {
    const auto& summary = summaries[s];
    std::printf("scenario %s: %llu patients simulated, %llu failed\n", vpop.settings().scenarios[s].name.c_str(),
                static_cast<unsigned long long>(summary.simulated), static_cast<unsigned long long>(summary.failed));
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const auto& sketch = summary.metrics[c];
      const double reached = summary.simulated ? static_cast<double>(sketch.count()) / static_cast<double>(summary.simulated) : 0.0;
      if (sketch.empty()) {
        std::printf("  %-26s not reached\n", columns[c].name.c_str());
        continue;
      }
      std::printf("  %-26s %12.4g [%.4g - %.4g] %s%s\n", columns[c].name.c_str(), sketch.quantile(0.5),
                  sketch.quantile(0.05), sketch.quantile(0.95), columns[c].unit.c_str(),
                  reached < 1.0 ? (" (reached by " + std::to_string(static_cast<int>(100.0 * reached + 0.5)) + " %)").c_str() : "");
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
  struct Workspace {
    std::unique_ptr<Solver> solver;
    std::vector<ScenarioSummary> summaries;
  };
  auto totals = vpop.empty_summaries();
  const auto merge = [&](const std::vector<ScenarioSummary>& part) {
    for (std::size_t s = 0; s < totals.size(); ++s) totals[s].merge(part[s]);
  };
  const std::size_t n = vpop.settings().n_patients;
  InOrder<PatientResult> in_order(all_items(n));
  Progress progress(n, opt.quiet || !root);
  std::size_t failed_simulations = 0;
  parallel::run_distributed(
      mpi, n, {opt.threads, &g_interrupted},
      [&] { return Workspace{vpop.make_workspace_solver(), vpop.empty_summaries()}; },
      [&](Workspace& w, std::size_t i) { return vpop.simulate(*w.solver, i, w.summaries); },
      [&](std::size_t i, PatientResult&& patient) {  // rank 0: every patient, local or remote
        in_order.push(i, std::move(patient), [&](std::size_t, PatientResult&& p) {
          for (auto status : p.status) failed_simulations += status != PatientStatus::ok;
          prepared.writer->append(p);
        });
        progress.update(in_order.delivered());
      },
      [&](Workspace& w) { merge(w.summaries); },
      [](ByteWriter& out, const PatientResult& p) { encode(out, p); },
      [](ByteReader& in) { return decode_patient(in); },
      [&](ByteWriter& out) { encode(out, totals); },
      [&](ByteReader& in) { merge(decode_summaries(in)); });
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
  if (!root) return;
  const bool interrupted = in_order.delivered() < n;
  // Every claimed patient finishes before the pool stops, so after an interruption the summaries cover the patients
  // written (one process); across MPI ranks, patients finished beyond a gap in the order are in the summaries only.
  prepared.writer->finish(totals, !interrupted, progress.seconds());
  print_summary(vpop, totals);
  std::printf("wrote %s%s%s\n", opt.out.c_str(), opt.table.empty() ? "" : " and ", opt.table.c_str());
  if (interrupted) {
    std::fprintf(stderr, "cartpk vpop: interrupted; the %zu patients completed in order are written to %s (marked partial)\n",
                 in_order.delivered(), opt.out.c_str());
    context.exit_code = 130;
  } else if (failed_simulations > 0) {
    std::fprintf(stderr, "cartpk vpop: %zu patient-scenario simulations failed (status in the outputs)\n", failed_simulations);
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
