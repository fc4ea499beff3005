#include "io/vpop_export.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <cstdio>
#include <ctime>
#include <optional>

#include "io/atomic_file.hpp"
#include "io/csv_writer.hpp"
#include "io/h5_rows.hpp"
#include "io/population_h5.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::io {

namespace {
// A batch of whole patients is appended and flushed once it holds a chunk's worth (1,024 rows) and a second has
// passed since the last flush, or after 2 s whatever its size: few flushes for fast models (each flush rewrites
// the chunks it leaves part-filled), and a slow run still reaches the disk every few seconds.
constexpr std::size_t kChunkPatients = 1024;
// A fast run hands over a batch every 16 chunks whatever the time, so the batch left for finish() to write after the
// last patient (on the critical path) is small: with the 1 s rule alone it was up to a second's worth of patients.
constexpr std::size_t kBatchPatientsMax = 16 * kChunkPatients;
// Per-patient doubles (sampled parameters, η, metrics) are stored uncompressed: shuffle + deflate made a
// 100,000-patient stein2019 file 22 % smaller but its writing took longer than the simulation (measured).


template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.name);
  return out;
}

// The patient's level of covariate `c` as text ("" when none was drawn: an empirical population has no categories).
const std::string& level_text(const CategoryDistribution& c, const Categories& categories) {
  static const std::string none;
  const auto it = categories.find(c.name);
  return it == categories.end() ? none : it->second;
}

// Its position among the covariate's levels (/vpop/population/category_level), −1 when none was drawn.
long level_index(const CategoryDistribution& c, const Categories& categories) {
  const auto it = std::find(c.levels.begin(), c.levels.end(), level_text(c, categories));
  return it == c.levels.end() ? -1 : static_cast<long>(it - c.levels.begin());
}

}  // namespace

std::filesystem::path partial_path(const std::filesystem::path& target) {
  auto p = target;
  p += ".partial";
  return p;
}

// What a scenario changes, for the file and the docs: "dose_per_kg=2e+06; product=cd19; ...".
std::string describe_scenario(const Scenario& s) {
  std::string out;
  auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  if (s.dose_per_kg) add("dose_per_kg=" + number_text(*s.dose_per_kg));
  if (!s.schedule.empty()) {
    std::string schedule;
    for (const auto& [day, fraction] : s.schedule) schedule += (schedule.empty() ? "" : ",") + number_text(day) + ":" + number_text(fraction);
    add("schedule=" + schedule);
  }
  if (!s.product.empty()) add("product=" + s.product);
  if (s.lymphodepletion) add(std::string("lymphodepletion=") + (*s.lymphodepletion ? "on" : "off"));
  for (const auto& [name, value] : s.overrides) add(name + "=" + number_text(value));
  return out.empty() ? "model defaults" : out;
}

struct VpopWriter::Impl {
  const VirtualPopulation& vpop;
  std::filesystem::path out, table_path;
  H5File file;
  std::vector<std::string> scenario_names;
  std::optional<H5RowWriter> parameters, covariates, eta;
  std::optional<H5LongRowWriter> rejected, progress;  // progress: [patients written, complete] per batch
  std::optional<H5LongRowWriter> categories;         // level indices; only when the population has categories
  std::vector<H5RowWriter> metrics;                  // per scenario
  std::vector<H5LongRowWriter> status;               // per scenario
  std::vector<std::vector<H5RowWriter>> trajectories;  // per scenario, per observable
  // Summary datasets, written at the end (created up front: a streaming file takes no new objects later).
  std::vector<std::vector<H5RowWriter>> bands;       // per scenario, per observable: n_levels rows × n_times
  std::vector<H5RowWriter> metric_quantiles;         // per scenario: n_metrics rows × n_levels
  std::vector<H5RowWriter> events;                   // per scenario: n_events rows × n_times
  std::vector<H5LongRowWriter> counts;               // per scenario: one row [simulated, failed]
  std::optional<H5RowWriter> timing;                 // one row [seconds]
  std::unique_ptr<CsvStream> table;
  // The batch being gathered, row-major.
  std::vector<double> parameter_rows, covariate_rows, eta_rows;
  std::vector<long> rejected_rows, category_rows;
  std::vector<std::vector<double>> metric_rows;
  std::vector<std::vector<long>> status_rows;
  std::vector<std::vector<std::vector<double>>> trajectory_rows;
  std::size_t batch = 0, written = 0;
  std::chrono::steady_clock::time_point last_flush = std::chrono::steady_clock::now();
  // Rows are built, compressed and written on a thread of their own, one batch while the next is gathered, so the
  // workers never wait for the disk (HDF5 is used by this thread alone until finish).
  std::vector<PatientResult> gathering, writing;
  std::thread writer;
  std::mutex lock;
  std::condition_variable changed;
  bool stop = false;
  std::exception_ptr error;

  // The writer thread lays the file out first, then writes each batch handed over; a failure is kept for the
  // main thread (hand_over, finish), and the batches after it are dropped.
  void start_writer(RunInfo run) {
    writer = std::thread([this, run = std::move(run)] {
      try {
        create_layout(run);
      } catch (...) {
        std::lock_guard<std::mutex> guard(lock);
        error = std::current_exception();
      }
      for (;;) {
        std::unique_lock<std::mutex> guard(lock);
        changed.wait(guard, [this] { return stop || !writing.empty(); });
        if (writing.empty()) return;  // stopped, nothing left
        const bool failed = error != nullptr;
        guard.unlock();
        try {
          if (!failed) {
            for (const auto& patient : writing) add_rows(patient);
            flush_batch();
          }
        } catch (...) {
          guard.lock();
          if (!error) error = std::current_exception();
          guard.unlock();
        }
        guard.lock();
        writing.clear();
        changed.notify_all();
      }
    });
  }
  // Hands the gathered patients to the writer thread (waiting while it still writes the previous batch).
  void hand_over() {
    std::unique_lock<std::mutex> guard(lock);
    changed.wait(guard, [this] { return writing.empty(); });
    if (error) std::rethrow_exception(error);
    if (gathering.empty()) return;
    std::swap(gathering, writing);
    last_flush = std::chrono::steady_clock::now();
    changed.notify_all();
  }
  void stop_writer() {  // after the last batch is written; rethrows the writer's failure
    {
      std::unique_lock<std::mutex> guard(lock);
      changed.wait(guard, [this] { return writing.empty(); });
      stop = true;
      changed.notify_all();
    }
    if (writer.joinable()) writer.join();
    if (error) std::rethrow_exception(error);
  }
  void create_layout(const RunInfo& run);
  void add_rows(const PatientResult& patient);
  ~Impl() {
    if (!writer.joinable()) return;
    {
      std::lock_guard<std::mutex> guard(lock);
      stop = true;
      writing.clear();
      changed.notify_all();
    }
    writer.join();
  }

  Impl(const VirtualPopulation& v, std::filesystem::path o, std::filesystem::path t)
      : vpop(v), out(std::move(o)), table_path(std::move(t)), file(H5File::create_streaming(partial_path(out))) {}

  void close_datasets() {  // every dataset before the file, so closing the file really closes it
    parameters.reset();
    covariates.reset();
    eta.reset();
    rejected.reset();
    categories.reset();
    progress.reset();
    timing.reset();
    metrics.clear();
    status.clear();
    trajectories.clear();
    bands.clear();
    metric_quantiles.clear();
    events.clear();
    counts.clear();
  }

  void flush_batch() {
    if (batch == 0) return;
    parameters->append(parameter_rows);
    covariates->append(covariate_rows);
    eta->append(eta_rows);
    rejected->append(rejected_rows);
    if (categories) categories->append(category_rows);
    for (std::size_t s = 0; s < metrics.size(); ++s) {
      metrics[s].append(metric_rows[s]);
      status[s].append(status_rows[s]);
      metric_rows[s].clear();
      status_rows[s].clear();
      for (std::size_t j = 0; j < trajectories[s].size(); ++j) {
        if (!trajectory_rows[s][j].empty()) trajectories[s][j].append(trajectory_rows[s][j]);
        trajectory_rows[s][j].clear();
      }
    }
    parameter_rows.clear();
    covariate_rows.clear();
    eta_rows.clear();
    rejected_rows.clear();
    category_rows.clear();
    written += batch;
    batch = 0;
    file.flush();  // the rows first, then the count that vouches for them
    const long mark[2] = {static_cast<long>(written), 0};
    progress->append(mark);
    file.flush();
    if (table) table->flush();
  }
};

namespace {
std::vector<std::string> table_header(const VirtualPopulation& vpop) {
  std::vector<std::string> header{"ID", "scenario", "status"};
  for (const auto& c : vpop.settings().covariates) header.push_back(c.name);
  for (const auto& names : {names_of(vpop.population().categories), names_of(vpop.population().model->parameters()),
                            names_of(vpop.metric_columns())})
    header.insert(header.end(), names.begin(), names.end());
  return header;
}
}  // namespace

VpopWriter::VpopWriter(std::filesystem::path out, std::filesystem::path table, const VirtualPopulation& vpop, RunInfo run)
    : impl_(std::make_unique<Impl>(vpop, std::move(out), std::move(table))) {
  auto& w = *impl_;
  if (!w.table_path.empty()) w.table = std::make_unique<CsvStream>(partial_path(w.table_path), table_header(vpop));
  w.start_writer(std::move(run));
}

// The file's description and every dataset (a streaming file takes no new objects later); on the writer thread,
// while the workers start.
void VpopWriter::Impl::create_layout(const RunInfo& run) {
  auto& w = *this;
  const auto& settings = vpop.settings();
  const Model& model = *vpop.population().model;
  const auto root = w.file.root();
  root.attribute("layout_version", kLayoutVersion);
  root.attribute("cartpk_version", run.cartpk_version);
  root.attribute("command_line", run.command_line);
  root.attribute("created_utc", utc_now());
  root.attribute("model", model.name());
  const auto g = root.subgroup("vpop");
  g.attribute("n_patients", static_cast<long>(settings.n_patients));
  g.attribute("seed", std::to_string(settings.seed));
  g.attribute("method", settings.method);
  g.attribute("rtol", settings.solver.rtol);
  g.attribute("atol_scale", settings.solver.atol_scale);
  g.attribute("integrator", std::string(integrator_name(settings.solver.integrator)));
  g.attribute("band_accuracy", settings.band_accuracy);
  g.attribute("band_zero", settings.band_zero);
  g.attribute("covariate_source", settings.covariates.empty() ? std::string("none") : settings.covariates.front().source);
  g.attribute("auc_end_day", settings.metrics.auc_end_day);
  g.attribute("late_day", settings.metrics.late_day);
  g.attribute("aplasia_threshold", settings.metrics.aplasia_threshold);
  g.attribute("qpcr_lloq", settings.metrics.qpcr_lloq);
  g.write("time", settings.times_day, "day");
  g.write("quantile_levels", settings.quantile_levels, "-");
  write_population(g.subgroup("population"), vpop.population());

  const auto patients = g.subgroup("patients");
  std::vector<std::string> units, covariate_names, eta_names;
  for (const auto& p : model.parameters()) units.emplace_back(p.unit);
  for (const auto& c : settings.covariates) covariate_names.push_back(c.name);
  for (int e : vpop.population().random_effects) eta_names.push_back(std::string(model.parameters()[static_cast<std::size_t>(e)].name));
  const auto parameter_names = names_of(model.parameters());
  w.parameters.emplace(patients.create_rows("parameters", parameter_names, "see parameter_units", 1024, false));
  patients.dataset_attribute("parameters", "parameter_units", units);
  w.covariates.emplace(patients.create_rows("covariates", covariate_names, "kg", 1024, false));
  w.eta.emplace(patients.create_rows("eta", eta_names.empty() ? std::vector<std::string>{"none"} : eta_names, "log scale", 1024, false));
  w.rejected.emplace(patients.create_long_rows("rejected_draws", std::vector<std::string>{"rejected"}, "draws"));
  const auto category_names = names_of(vpop.population().categories);
  if (!category_names.empty())
    w.categories.emplace(patients.create_long_rows("categories", category_names,
                                                   "index into the column's levels (/vpop/population/category_level)"));
  w.progress.emplace(g.create_long_rows("progress", std::vector<std::string>{"patients_written", "complete"}, "-", 64, false));

  const auto metric_names = names_of(vpop.metric_columns());
  std::vector<std::string> metric_units;
  for (const auto& c : vpop.metric_columns()) metric_units.push_back(c.unit);
  std::vector<std::string> level_names, time_names;
  for (double q : settings.quantile_levels) level_names.push_back("q" + number_text(q));
  for (double t : settings.times_day) time_names.push_back("t" + number_text(t));
  const auto scenarios = g.subgroup("scenarios");
  std::vector<std::string> order;
  for (const auto& s : settings.scenarios) order.push_back(s.name);
  g.attribute("scenarios", order);
  const auto summaries = vpop.empty_summaries();
  for (std::size_t s = 0; s < settings.scenarios.size(); ++s) {
    const auto sg = scenarios.subgroup(settings.scenarios[s].name);
    sg.attribute("definition", describe_scenario(settings.scenarios[s]));
    w.metrics.push_back(sg.create_rows("metrics", metric_names, "see metric_units", 1024, false));
    sg.dataset_attribute("metrics", "metric_units", metric_units);
    w.status.push_back(sg.create_long_rows("status", std::vector<std::string>{"status"}, "0 ok, 1 solver failed, 2 not sampled"));
    const auto band_group = sg.subgroup("bands");
    std::vector<H5RowWriter> band_sets, trajectory_sets;
    const auto kept = settings.keep_trajectories > 0 ? std::optional<H5Group>(sg.subgroup("trajectories")) : std::nullopt;
    for (const auto& o : model.observables()) {
      band_sets.push_back(band_group.create_rows(o.name, time_names, o.unit, settings.quantile_levels.size(), false));
      if (kept) trajectory_sets.push_back(kept->create_rows(o.name, time_names, o.unit, 64, true));
    }
    w.bands.push_back(std::move(band_sets));
    w.trajectories.push_back(std::move(trajectory_sets));
    w.metric_quantiles.push_back(sg.create_rows("metric_quantiles", level_names, "see metric_units", std::max<std::size_t>(1, metric_names.size()), false));
    sg.dataset_attribute("metric_quantiles", "metrics", metric_names);
    sg.dataset_attribute("metric_quantiles", "metric_units", metric_units);
    sg.dataset_attribute("metric_quantiles", "method", "exact: linear interpolation between order statistics (NumPy's default), over the patients where the metric is defined");
    std::vector<std::string> event_names;
    for (const auto& e : summaries[s].events) event_names.push_back(e.name);
    if (!event_names.empty()) {
      w.events.push_back(sg.create_rows("event_fraction", time_names, "fraction of simulated patients", event_names.size(), false));
      sg.dataset_attribute("event_fraction", "events", event_names);
    }
    w.counts.push_back(sg.create_long_rows("counts", std::vector<std::string>{"simulated", "failed"}, "patients", 1, false));
  }
  w.timing.emplace(g.create_rows("run_seconds", std::vector<std::string>{"seconds"}, "s", 1, false));
  w.metric_rows.assign(settings.scenarios.size(), {});
  w.status_rows.assign(settings.scenarios.size(), {});
  w.trajectory_rows.assign(settings.scenarios.size(), std::vector<std::vector<double>>(settings.keep_trajectories ? model.n_observables() : 0));
  w.file.start_streaming();
}

VpopWriter::~VpopWriter() = default;

void VpopWriter::Impl::add_rows(const PatientResult& patient) {
  auto& w = *this;
  const auto& settings = w.vpop.settings();
  const auto& sample = patient.sample;
  const std::size_t n_params = w.vpop.population().model->n_parameters();
  for (std::size_t i = 0; i < n_params; ++i)
    w.parameter_rows.push_back(i < sample.parameters.size() ? sample.parameters[i] : std::nan(""));
  for (const auto& c : settings.covariates) {
    const auto it = sample.covariates.find(c.name);
    w.covariate_rows.push_back(it == sample.covariates.end() ? std::nan("") : it->second);
  }
  const std::size_t n_eta = std::max<std::size_t>(1, w.vpop.population().random_effects.size());
  for (std::size_t e = 0; e < n_eta; ++e)
    w.eta_rows.push_back(e < static_cast<std::size_t>(sample.eta.size()) ? sample.eta[static_cast<Eigen::Index>(e)] : std::nan(""));
  w.rejected_rows.push_back(sample.rejected);
  const auto& distributions = w.vpop.population().categories;
  for (const auto& c : distributions) w.category_rows.push_back(level_index(c, sample.categories));
  for (std::size_t s = 0; s < settings.scenarios.size(); ++s) {
    w.metric_rows[s].insert(w.metric_rows[s].end(), patient.metrics(s).begin(), patient.metrics(s).end());
    w.status_rows[s].push_back(static_cast<long>(patient.status[s]));
    if (!patient.trajectories.empty())
      for (std::size_t j = 0; j < w.trajectory_rows[s].size(); ++j)
        for (Eigen::Index k = 0; k < patient.trajectories[s].rows(); ++k)
          w.trajectory_rows[s][j].push_back(patient.trajectories[s](k, static_cast<Eigen::Index>(j)));
    if (w.table) {
      std::vector<std::string> row{std::to_string(patient.index + 1), csv_text(settings.scenarios[s].name),
                                   std::to_string(static_cast<int>(patient.status[s]))};
      for (const auto& c : settings.covariates) {
        const auto it = sample.covariates.find(c.name);
        row.push_back(csv_number(it == sample.covariates.end() ? std::nan("") : it->second));
      }
      for (const auto& c : distributions) row.push_back(csv_text(level_text(c, sample.categories)));
      // The parameters this patient had in this scenario (the HDF5 keeps the base ones once per patient).
      const auto in_scenario = sample.parameters.empty()
                                   ? sample.parameters
                                   : scenario_parameters(sample.parameters, w.vpop.population().typical,
                                                         w.vpop.resolved()[s].typical);
      for (std::size_t i = 0; i < n_params; ++i)
        row.push_back(csv_number(i < in_scenario.size() ? in_scenario[i] : std::nan("")));
      for (double m : patient.metrics(s)) row.push_back(csv_number(m));
      w.table->row(row);
    }
  }
  ++w.batch;
}

void VpopWriter::append(PatientResult&& patient) {
  auto& w = *impl_;
  w.gathering.push_back(std::move(patient));
  const auto since = std::chrono::steady_clock::now() - w.last_flush;
  if ((w.gathering.size() >= kChunkPatients && since > std::chrono::seconds(1)) || since > std::chrono::seconds(2) ||
      w.gathering.size() >= kBatchPatientsMax)
    w.hand_over();
}

void VpopWriter::hand_over() { impl_->hand_over(); }

void VpopWriter::finish(const std::vector<ScenarioSummary>& summaries,
                        const std::vector<std::vector<double>>& metric_quantiles, bool complete, double seconds) {
  auto& w = *impl_;
  w.hand_over();
  w.stop_writer();
  const auto& settings = w.vpop.settings();
  const auto& levels = settings.quantile_levels;
  const std::size_t n_times = settings.times_day.size();
  for (std::size_t s = 0; s < summaries.size(); ++s) {
    const auto& summary = summaries[s];
    for (std::size_t j = 0; j < w.bands[s].size(); ++j) {
      std::vector<double> rows(levels.size() * n_times);
      for (std::size_t k = 0; k < n_times; ++k) {
        const auto q = summary.bands[j * n_times + k].quantiles(levels);
        for (std::size_t l = 0; l < levels.size(); ++l) rows[l * n_times + k] = q[l];
      }
      w.bands[s][j].append(rows);
    }
    const auto& mq = metric_quantiles.at(s);
    if (!mq.empty()) w.metric_quantiles[s].append(mq);
    if (s < w.events.size()) {
      std::vector<double> rows;
      for (const auto& e : summary.events)
        for (auto c : e.count)
          rows.push_back(summary.simulated ? static_cast<double>(c) / static_cast<double>(summary.simulated) : std::nan(""));
      w.events[s].append(rows);
    }
    const long counts[2] = {static_cast<long>(summary.simulated), static_cast<long>(summary.failed)};
    w.counts[s].append(counts);
  }
  const double run_seconds[1] = {seconds};
  w.timing->append(run_seconds);
  w.file.flush();
  const long mark[2] = {static_cast<long>(w.written), complete ? 1 : 0};
  w.progress->append(mark);
  w.close_datasets();
  w.file.close();
  if (w.table) w.table->flush();
  w.table.reset();
  for (const auto* target : {&w.out, &w.table_path}) {
    if (target->empty()) continue;
    std::error_code error;
    std::filesystem::rename(partial_path(*target), *target, error);
    if (error)
      throw OutputError("could not rename " + partial_path(*target).string() + " to " + target->string() + ": " +
                        error.message());
  }
}

}  // namespace cartpk::io
