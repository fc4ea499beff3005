#include "pkmodel/vpop.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "pkmodel/errors.hpp"
#include "pkmodel/worker_pool.hpp"

namespace cartpk {

namespace {
// Curves gathered before they enter the band sketches: 256 patients, or fewer where that would pass 16 MB per
// scenario (a grid of over 8,192 band points). Each sketch then takes a whole block at once, so its buckets are
// read from memory once per block rather than once per value. Measured (2 cores, 1 thread, run time): stein2019
// (200 band points) is fastest with blocks of 128–512 patients (64: +10 %, 4,096: +9 %, the blocks then outgrow
// the cache); cart_cd19_bcma over two years daily (4,386 band points), whose buckets never fit in the cache, gains
// up to 512 (128: +5 % over 256, 512: −3 %).
constexpr std::size_t kBlockPatients = 256;
constexpr std::size_t kPendingBytes = std::size_t{16} << 20;
std::size_t block_patients(std::size_t n_bands) {
  return std::clamp<std::size_t>(kPendingBytes / (sizeof(double) * std::max<std::size_t>(1, n_bands)), 16,
                                 kBlockPatients);
}
}  // namespace

void ScenarioSummary::take_curve(Eigen::MatrixXd& observables) {
  if (static_cast<std::size_t>(observables.size()) != bands.size())
    throw std::logic_error("ScenarioSummary::take_curve: a curve of " + std::to_string(observables.size()) +
                           " values for " + std::to_string(bands.size()) + " bands");
  if (block == 0) block = block_patients(bands.size());
  if (pending.size() <= n_pending) pending.resize(n_pending + 1);
  // The curve's storage changes hands (no copy); the caller gets a buffer of the pending block's, to overwrite.
  pending[n_pending].swap(observables);
  if (++n_pending == block) flush_pending();
}

void ScenarioSummary::flush_pending() {
  // Eight bands at a time (a cache line of each pending curve; band order is observable-major, as the column-major
  // matrices hold the values) are turned into contiguous columns, each of which then enters its sketch in one go.
  constexpr std::size_t kGroup = 8;
  columns.resize(kGroup * n_pending);  // kept between flushes: no allocation (which would consolidate malloc's bins)
  const std::size_t n_bands = bands.size();
  for (std::size_t b0 = 0; b0 < n_bands && n_pending > 0; b0 += kGroup) {
    const std::size_t group = std::min(kGroup, n_bands - b0);
    for (std::size_t r = 0; r < n_pending; ++r) {
      const double* row = pending[r].data() + b0;
      for (std::size_t g = 0; g < group; ++g) columns[g * n_pending + r] = row[g];
    }
    for (std::size_t g = 0; g < group; ++g)
      bands[b0 + g].add(std::span<const double>(columns.data() + g * n_pending, n_pending));
  }
  n_pending = 0;
}

void PatientResult::fail(std::size_t scenario, PatientStatus why, std::string text) {
  status.at(scenario) = why;
  messages.resize(status.size());
  messages[scenario] = std::move(text);
}

void ScenarioSummary::add_metrics(std::span<const double> values) {
  if (metric_values.size() < values.size()) metric_values.resize(values.size());
  for (std::size_t c = 0; c < values.size(); ++c)
    if (!std::isnan(values[c])) metric_values[c].push_back(values[c]);
}

std::size_t ScenarioSummary::metric_count(std::size_t column) const {
  return column < metric_values.size() ? metric_values[column].size() : 0;
}

double linear_quantile(std::vector<double>& values, double q) {
  std::sort(values.begin(), values.end());
  return sorted_linear_quantile(values, q);
}

double sorted_linear_quantile(const std::vector<double>& values, double q) {
  if (values.empty()) return std::nan("");
  const double position = q * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const std::size_t upper = std::min(lower + 1, values.size() - 1);
  return values[lower] + (position - static_cast<double>(lower)) * (values[upper] - values[lower]);
}

std::vector<double> ScenarioSummary::metric_quantiles(const std::vector<double>& levels, unsigned threads) const {
  std::vector<double> out(metric_values.size() * levels.size(), std::nan(""));
  // Levels in increasing order: each selection then only orders what lies above the previous one.
  std::vector<std::size_t> order(levels.size());
  for (std::size_t l = 0; l < order.size(); ++l) order[l] = l;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return levels[a] < levels[b]; });
  const auto column = [&](std::size_t m) {
    auto values = metric_values[m];  // a copy: partially ordered for each level (selection, not a full sort)
    if (values.empty()) return;
    std::size_t from = 0;  // everything before `from` is <= everything from it on
    for (const std::size_t l : order) {
      const double position = levels[l] * static_cast<double>(values.size() - 1);
      const auto lower = static_cast<std::size_t>(std::floor(position));
      const auto at_lower = values.begin() + static_cast<std::ptrdiff_t>(lower);
      std::nth_element(values.begin() + static_cast<std::ptrdiff_t>(std::min(from, lower)), at_lower, values.end());
      from = lower;
      const double at = *at_lower;
      const double next = lower + 1 < values.size() ? *std::min_element(at_lower + 1, values.end()) : at;
      out[m * levels.size() + l] = at + (position - static_cast<double>(lower)) * (next - at);
    }
  };
  // Columns are independent: spread over the threads (each column's numbers are the same whoever computes them).
  std::atomic<std::size_t> next_column{0};
  const auto work = [&] {
    for (std::size_t m; (m = next_column.fetch_add(1)) < metric_values.size();) column(m);
  };
  WorkerPool::instance().run(static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(threads, metric_values.size()))),
                             work);
  return out;
}

void ScenarioSummary::merge(ScenarioSummary&& other) {
  if (other.n_pending != 0) throw std::logic_error("ScenarioSummary::merge: flush_pending() the other summary first");
  // No curve here yet: take the other's sketches, leaving it these empty ones (of the same settings).
  if (simulated == 0 && other.bands.size() == bands.size()) bands.swap(other.bands);
  merge(static_cast<const ScenarioSummary&>(other));
}

void ScenarioSummary::merge(const ScenarioSummary& other) {
  if (other.n_pending != 0) throw std::logic_error("ScenarioSummary::merge: flush_pending() the other summary first");
  for (std::size_t i = 0; i < bands.size(); ++i) bands[i].merge(other.bands[i]);
  for (std::size_t e = 0; e < events.size(); ++e)
    for (std::size_t k = 0; k < events[e].count.size(); ++k) events[e].count[k] += other.events[e].count[k];
  simulated += other.simulated;
  failed += other.failed;
}

namespace {
}  // namespace

void encode(ByteWriter& out, const PatientResult& p) {
  out.put(p.index);
  out.put(p.sample.covariates.size());
  for (const auto& [name, value] : p.sample.covariates) {
    out.put_string(name);
    out.put(value);
  }
  out.put(p.sample.categories.size());
  for (const auto& [name, level] : p.sample.categories) {
    out.put_string(name);
    out.put_string(level);
  }
  out.put_span(std::span<const double>(p.sample.eta.data(), static_cast<std::size_t>(p.sample.eta.size())));
  out.put_vector(p.sample.parameters);
  out.put(p.sample.rejected);
  out.put(p.sample.ok);
  out.put_vector(p.status);
  out.put(p.messages.size());
  for (const auto& m : p.messages) out.put_string(m);
  out.put_vector(p.metric_values);
  out.put(p.trajectories.size());
  for (const auto& m : p.trajectories) out.put_matrix(m);
}

PatientResult decode_patient(ByteReader& in) {
  PatientResult p;
  p.index = in.get<std::size_t>();
  const auto n_covariates = in.get<std::size_t>();
  for (std::size_t k = 0; k < n_covariates; ++k) {
    auto name = in.get_string();
    p.sample.covariates[name] = in.get<double>();
  }
  const auto n_categories = in.get<std::size_t>();
  for (std::size_t k = 0; k < n_categories; ++k) {
    auto name = in.get_string();
    p.sample.categories[name] = in.get_string();
  }
  const auto eta = in.get_vector<double>();
  p.sample.eta = Eigen::Map<const Eigen::VectorXd>(eta.data(), static_cast<Eigen::Index>(eta.size()));
  p.sample.parameters = in.get_vector<double>();
  p.sample.rejected = in.get<int>();
  p.sample.ok = in.get<bool>();
  p.status = in.get_vector<PatientStatus>();
  // One string at a time, not resize(count): a corrupt count then ends in "truncated message", not in a huge allocation.
  for (auto n_messages = in.get<std::size_t>(); n_messages > 0; --n_messages) p.messages.push_back(in.get_string());
  p.metric_values = in.get_vector<double>();
  const auto n_trajectories = in.get<std::size_t>();
  for (std::size_t s = 0; s < n_trajectories; ++s) p.trajectories.push_back(in.get_matrix());
  return p;
}

void encode(ByteWriter& out, const std::vector<ScenarioSummary>& summaries) {
  out.put(summaries.size());
  for (const auto& s : summaries) {
    out.put(s.bands.size());
    for (const auto& b : s.bands) out.put_varints(b.to_words());
    out.put(s.events.size());
    for (const auto& e : s.events) {
      out.put_string(e.name);
      out.put_string(e.meaning);
      out.put_vector(e.count);
    }
    out.put(s.simulated);
    out.put(s.failed);
  }
}

void merge_encoded(ByteReader& in, std::vector<ScenarioSummary>& totals) {
  const auto mismatch = [](const char* what) { return std::runtime_error(std::string("merge_encoded: another ") + what); };
  if (in.get<std::size_t>() != totals.size()) throw mismatch("number of scenarios");
  for (auto& total : totals) {
    if (total.n_pending != 0) throw std::logic_error("merge_encoded: flush_pending() the summary first");
    // One sketch at a time: the other rank's bands are never all in memory at once.
    if (in.get<std::size_t>() != total.bands.size()) throw mismatch("number of bands");
    for (auto& band : total.bands) band.merge(QuantileSketch::from_words(in.get_varints()));
    if (in.get<std::size_t>() != total.events.size()) throw mismatch("number of event curves");
    for (auto& event : total.events) {
      in.get_string();  // name and meaning: the same on every rank
      in.get_string();
      const auto count = in.get_vector<std::uint64_t>();
      if (count.size() != event.count.size()) throw mismatch("event curve length");
      for (std::size_t k = 0; k < count.size(); ++k) event.count[k] += count[k];
    }
    total.simulated += in.get<std::uint64_t>();
    total.failed += in.get<std::uint64_t>();
  }
}

VirtualPopulation::VirtualPopulation(PopulationModel population, VpopSettings settings)
    : population_(std::move(population)), settings_(std::move(settings)) {
  const Model& model = *population_.model;
  population_.validate("IIV (" + population_.source + ")");
  population_.require_category_distributions("IIV (" + population_.source + ")");
  for (const auto& r : population_.relations) {  // refused here, not by every patient's draw
    const auto sampled = [&](const CovariateDistribution& c) { return c.name == r.covariate; };
    if (r.form != CovariateForm::categorical && std::none_of(settings_.covariates.begin(), settings_.covariates.end(), sampled))
      throw InputError("IIV (" + population_.source + "): the covariate relation on " +
                       std::string(model.parameters()[static_cast<std::size_t>(r.parameter)].name) + " uses " + r.covariate +
                       ", which vpop does not sample (virtual patients get body weight WT, --covariates; expected "
                       "continuous relations on WT)");
  }
  if (settings_.n_patients == 0) throw InputError("--n: expected a number of patients > 0");
  if (settings_.scenarios.empty()) throw InputError("vpop: no scenario to simulate");
  for (std::size_t a = 0; a < settings_.scenarios.size(); ++a)
    for (std::size_t b = 0; b < a; ++b)
      if (settings_.scenarios[a].name == settings_.scenarios[b].name)
        throw InputError(settings_.scenarios[a].origin + ": scenario '" + settings_.scenarios[a].name +
                         "' is defined twice (the first at " + settings_.scenarios[b].origin + ")");
  for (const auto& s : settings_.scenarios) resolved_.push_back(resolve_scenario(model, s, population_.typical));
  for (double q : settings_.quantile_levels)
    if (!(q >= 0.0 && q <= 1.0)) throw InputError("--quantiles: " + number_text(q) + " is not a level in [0, 1]");
  for (const auto& r : resolved_) validate_request(model, {r.typical, settings_.times_day, {}, r.doses});
  (void)make_workspace_solver();  // an unknown method, or "closed" for a model without one, fails here
  cholesky_ = omega_cholesky(population_);
  columns_ = metrics::metric_columns(model, settings_.metrics);
  bcell_ = model.observable_index("bcell");
  for (std::size_t c = 0; c < columns_.size(); ++c)
    if (columns_[c].name == "bcell_aplasia_start" || columns_[c].name.starts_with("bcell_recovery_"))
      event_metrics_.push_back(static_cast<int>(c));
}

std::unique_ptr<Solver> VirtualPopulation::make_workspace_solver() const {
  return make_solver(*population_.model, settings_.method, settings_.solver);
}

std::vector<ScenarioSummary> VirtualPopulation::empty_summaries() const {
  const std::size_t n_times = settings_.times_day.size();
  ScenarioSummary summary;
  // Values below band_zero count as zero: bounding the range of magnitudes bounds each sketch's memory.
  const QuantileSketch sketch(settings_.band_accuracy, settings_.band_zero);
  summary.bands.assign(population_.model->n_observables() * n_times, sketch);
  summary.metric_values.assign(columns_.size(), {});
  for (int c : event_metrics_)
    summary.events.push_back({columns_[static_cast<std::size_t>(c)].name + "_reached",
                              "patients whose " + columns_[static_cast<std::size_t>(c)].meaning + " is on or before the day",
                              std::vector<std::uint64_t>(n_times, 0)});
  if (bcell_ >= 0)
    summary.events.push_back({"bcell_aplasia", "patients with B cells < " +
                              number_text(settings_.metrics.aplasia_threshold) + " cell/µL on the day",
                              std::vector<std::uint64_t>(n_times, 0)});
  return std::vector<ScenarioSummary>(settings_.scenarios.size(), summary);
}

PatientResult VirtualPopulation::simulate(Solver& solver, std::size_t index,
                                          std::vector<ScenarioSummary>& summaries) const {
  VpopScratch scratch;
  return simulate(solver, scratch, index, summaries);
}

PatientResult VirtualPopulation::simulate(Solver& solver, VpopScratch& scratch, std::size_t index,
                                          std::vector<ScenarioSummary>& summaries) const {
  const Model& model = *population_.model;
  const std::size_t n_scenarios = resolved_.size(), n_times = settings_.times_day.size();
  PatientResult result;
  result.index = index;
  result.sample = sample_patient(population_, cholesky_, settings_.covariates, settings_.seed, index);
  result.status.assign(n_scenarios, PatientStatus::ok);
  result.metric_values.assign(n_scenarios * columns_.size(), std::nan(""));
  const bool keep = index < settings_.keep_trajectories;
  if (keep) result.trajectories.assign(n_scenarios, Eigen::MatrixXd::Constant(static_cast<Eigen::Index>(n_times),
                                            static_cast<Eigen::Index>(model.n_observables()), std::nan("")));
  SimulationRequest& request = scratch.request;
  SimulationResult& solution = scratch.solution;
  if (scratch.owner != this) {  // first use, or a scratch that served another population
    request.times_day = settings_.times_day;
    request.sensitivity_parameters.clear();
    scratch.owner = this;
  }
  for (std::size_t s = 0; s < n_scenarios; ++s) {
    auto& summary = summaries[s];
    if (!result.sample.ok) {
      result.fail(s, PatientStatus::not_sampled,
                  "no draw within the parameter bounds in " + std::to_string(result.sample.rejected) + " tries");
      ++summary.failed;
      continue;
    }
    scenario_parameters(result.sample.parameters, population_.typical, resolved_[s].typical, request.parameters);
    request.doses = resolved_[s].doses;
    const auto weight = result.sample.covariates.find("WT");
    for (auto& d : request.doses) d.weight_kg = weight != result.sample.covariates.end() ? weight->second : 70.0;
    try {
      solver.solve(request, solution);
    } catch (const SolverError& e) {  // this patient in this scenario only; the run goes on
      result.fail(s, PatientStatus::solver_failed, e.what());
      ++summary.failed;
      continue;
    }
    ++summary.simulated;
    metrics::compute_metrics(model, settings_.metrics, request.parameters, solution, result.metrics(s));
    std::size_t e = 0;
    for (int c : event_metrics_) {
      const double day = result.metrics(s)[static_cast<std::size_t>(c)];
      auto& count = summary.events[e++].count;
      if (std::isnan(day)) continue;
      const auto first = std::lower_bound(settings_.times_day.begin(), settings_.times_day.end(), day);
      for (auto it = first; it != settings_.times_day.end(); ++it) ++count[static_cast<std::size_t>(it - settings_.times_day.begin())];
    }
    if (bcell_ >= 0) {
      auto& count = summary.events[e].count;
      for (std::size_t k = 0; k < n_times; ++k)
        count[k] += solution.observables(static_cast<Eigen::Index>(k), bcell_) < settings_.metrics.aplasia_threshold;
    }
    if (keep) result.trajectories[s] = solution.observables;
    summary.take_curve(solution.observables);  // last: the solution's observables are another buffer after it
  }
  return result;
}

}  // namespace cartpk
