#include "tools/vpop_run.hpp"

#include <chrono>
#include <cstdio>
#include <memory>

#include "parallel/distributed_cohort.hpp"
#include "pkmodel/cohort.hpp"

namespace cartpk::cli {

namespace {
// Progress on stderr at most once a second: patients done, rate and time left.
class Progress {
 public:
  Progress(std::size_t total, bool quiet, std::string command)
      : total_(total), quiet_(quiet), command_(std::move(command)), start_(clock::now()), last_(start_) {}
  void update(std::size_t done) {
    const auto now = clock::now();
    if (quiet_ || (now - last_ < std::chrono::seconds(1) && done < total_)) return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    const double left = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
    std::fprintf(stderr, "%s: %zu/%zu patients (%.0f %%), %.0f patients/s, ETA %.0f s\n", command_.c_str(), done,
                 total_, 100.0 * static_cast<double>(done) / static_cast<double>(total_), rate, left);
  }
  [[nodiscard]] double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  std::size_t total_;
  bool quiet_;
  std::string command_;
  clock::time_point start_, last_;
};
}  // namespace

PopulationRun run_population(const VirtualPopulation& vpop, const PopulationRunOptions& options,
                             const std::function<void(PatientResult&)>& deliver) {
  const auto& mpi = parallel::world();
  struct Workspace {
    std::unique_ptr<Solver> solver;
    std::vector<ScenarioSummary> summaries;
    VpopScratch scratch;
  };
  PopulationRun run;
  run.totals = vpop.empty_summaries();
  if (mpi.rank() == 0)  // every patient's metrics end up here: room for them up front, not grown by doubling
    for (auto& summary : run.totals)
      for (auto& column : summary.metric_values) column.reserve(vpop.settings().n_patients);
  const auto merge = [&](std::vector<ScenarioSummary>& part) {  // the workspace's last use
    for (std::size_t s = 0; s < run.totals.size(); ++s) run.totals[s].merge(std::move(part[s]));
  };
  const std::size_t n = vpop.settings().n_patients;
  InOrder<PatientResult> in_order(all_items(n));
  Progress progress(n, options.quiet || mpi.rank() != 0, options.command);
  parallel::run_distributed(
      mpi, n, {options.threads, options.cancel, 16},  // cheap patients (closed forms): one lock per 16
      [&] { return Workspace{vpop.make_workspace_solver(), vpop.empty_summaries(), {}}; },
      [&](Workspace& w, std::size_t i) { return vpop.simulate(*w.solver, w.scratch, i, w.summaries); },
      [&](std::size_t i, PatientResult&& patient) {  // rank 0: every patient, local or remote
        in_order.push(i, std::move(patient), [&](std::size_t, PatientResult&& p) {
          for (std::size_t s = 0; s < p.status.size(); ++s) {
            run.failed_simulations += p.status[s] != PatientStatus::ok;
            if (p.status[s] == PatientStatus::ok) run.totals[s].add_metrics(p.metrics(s));  // exact quantiles
          }
          deliver(p);
        });
        progress.update(in_order.delivered());
      },
      [&](Workspace& w) {
        for (auto& summary : w.summaries) summary.flush_pending();
        merge(w.summaries);
      },
      [](ByteWriter& out, const PatientResult& p) { encode(out, p); },
      [](ByteReader& in) { return decode_patient(in); },
      [&](ByteWriter& out) { encode(out, run.totals); },
      [&](ByteReader& in) { merge_encoded(in, run.totals); });
  run.delivered = in_order.delivered();
  run.seconds = progress.seconds();
  return run;
}

}  // namespace cartpk::cli
