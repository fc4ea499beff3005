#include "fitting/vpc.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fitting/transforms.hpp"
#include "pkmodel/cohort.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// NumPy's linear interpolation between order statistics (numpy.lib.function_base._lerp), so that percentiles
// equal NumPy's to the last bit.
double lerp(double a, double b, double t) {
  const double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

// Type-7 percentile of sorted values; NaN when empty or the lower order statistic is −∞ (below the LLOQ).
double sorted_percentile(const std::vector<double>& x, double p) {
  if (x.empty()) return kNaN;
  const double h = p * static_cast<double>(x.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const auto hi = std::min(lo + 1, x.size() - 1);
  if (!std::isfinite(x[lo])) return kNaN;
  return lerp(x[lo], x[hi], h - static_cast<double>(lo));
}

struct Design {  // where each record goes: its bin (−1: outside) and the LLOQ it is censored at
  std::vector<std::vector<int>> bin;
  std::vector<std::vector<double>> lloq;
  std::vector<std::vector<std::size_t>> time_row;  // record -> row of the subject's solve
  std::vector<std::vector<double>> times;          // per subject: the distinct record times
  std::vector<std::vector<double>> pc_factor;      // pcVPC: PRED_bin / PRED per record (1 otherwise)
};

// Per replicate: for each (observable slot, bin) the three percentiles (−∞: below the LLOQ; NaN: no records) and
// the fraction BLQ.
struct ReplicateStats {
  std::vector<double> values;  // [slot][bin][0..3]
  long failed = 0;
};

struct Workspace {
  std::unique_ptr<Solver> solver;
  SimulationRequest request;
  SimulationResult result;
};

// Parameters of a subject at η: covariate relations on the typical values, then η on the scale the population
// fit estimated it (PopulationModel::eta_scales).
std::vector<double> subject_parameters(const PopulationModel& population, const Eigen::VectorXd& eta,
                                       const Subject& subject) {
  return population.individual(eta, subject.covariates, subject.categorical);
}

// Predictions of every record of subject i at parameters p; false when the model rejects p or fails.
bool predict(Workspace& w, const VpcModel& vpc, const Design& design, const Subject& subject, std::size_t i,
             const std::vector<double>& p, std::vector<double>& f) {
  const Model& model = *vpc.population.model;
  f.assign(subject.observations.size(), kNaN);
  if (!model.check_parameters(p).empty()) return false;
  w.request.parameters = p;
  w.request.times_day = design.times[i];
  w.request.doses.clear();
  if (model.accepts_doses())
    for (const auto& d : subject.doses) w.request.doses.push_back(d.dose);
  try {
    w.solver->solve(w.request, w.result);
  } catch (const SolverError&) {
    return false;
  }
  for (std::size_t k = 0; k < subject.observations.size(); ++k) {
    f[k] = w.result.observables(static_cast<Eigen::Index>(design.time_row[i][k]),
                                static_cast<Eigen::Index>(subject.observations[k].observable));
    if (!std::isfinite(f[k])) return false;
  }
  return true;
}

double with_residual_error(const ErrorModel& e, double f, double epsilon) {
  switch (e.type) {
    case ErrorType::additive: return f + e.a * epsilon;
    case ErrorType::proportional: return f + e.b * f * epsilon;
    case ErrorType::combined: return f + std::sqrt(e.a * e.a + e.b * e.b * f * f) * epsilon;
    case ErrorType::lognormal: return f * std::exp(e.a * epsilon);
  }
  return f;
}

int bin_of(const std::vector<double>& edges, double t) {
  if (edges.size() < 2 || t < edges.front() || t > edges.back()) return -1;
  if (t == edges.back()) return static_cast<int>(edges.size()) - 2;
  return static_cast<int>(std::upper_bound(edges.begin(), edges.end(), t) - edges.begin()) - 1;
}

void check_edges(const std::vector<double>& edges) {
  if (edges.size() < 2) throw InputError("--bins: expected at least two edges (e1,e2,...) or auto");
  for (std::size_t k = 0; k < edges.size(); ++k) {
    if (!std::isfinite(edges[k])) throw InputError("--bins: edge " + std::to_string(k + 1) + " is not a finite number");
    if (k > 0 && !(edges[k] > edges[k - 1]))
      throw InputError("--bins: edge " + std::to_string(k + 1) + " is not above edge " + std::to_string(k) +
                       " (expected edges that increase strictly, in days)");
  }
}

}  // namespace

double censored_percentile(std::vector<double> values, const std::vector<char>& blq, double p) {
  for (std::size_t k = 0; k < values.size(); ++k)
    if (blq[k]) values[k] = kMinusInf;
  std::sort(values.begin(), values.end());
  return sorted_percentile(values, p);
}

double percentile_with_minus_infinity(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return sorted_percentile(values, p);
}

std::vector<double> auto_bin_edges(const std::vector<double>& record_times) {
  std::vector<double> t = record_times;
  std::sort(t.begin(), t.end());
  if (t.empty()) return {};
  std::vector<double> distinct;
  std::vector<std::size_t> cumulative;  // records at or before distinct[k]
  for (std::size_t k = 0; k < t.size(); ++k) {
    if (distinct.empty() || t[k] != distinct.back()) {
      distinct.push_back(t[k]);
      cumulative.push_back(0);
    }
    cumulative.back() = k + 1;
  }
  const std::size_t n = t.size(), m = distinct.size();
  if (m == 1) return {distinct.front(), distinct.front()};
  const auto wanted = static_cast<std::size_t>(std::min(15.0, std::max(3.0, std::ceil(static_cast<double>(n) / 40.0))));
  const std::size_t k_bins = std::min(wanted, m);
  std::vector<double> edges{distinct.front()};
  std::size_t previous = 0;  // the last distinct time already closed by an edge (+1)
  for (std::size_t j = 1; j < k_bins; ++j) {
    const double target = static_cast<double>(j) * static_cast<double>(n) / static_cast<double>(k_bins);
    std::size_t best = previous;
    for (std::size_t k = previous; k + 1 < m; ++k)  // the cut nearest the target count
      if (std::abs(static_cast<double>(cumulative[k]) - target) < std::abs(static_cast<double>(cumulative[best]) - target))
        best = k;
    if (best + 1 >= m) break;
    const double edge = 0.5 * (distinct[best] + distinct[best + 1]);
    if (edge > edges.back()) {
      edges.push_back(edge);
      previous = best + 1;
    }
  }
  edges.push_back(distinct.back());
  return edges;
}

std::vector<std::vector<double>> record_lloqs(const std::vector<Subject>& subjects, std::size_t n_observables) {
  std::vector<double> lowest(n_observables, kNaN);
  auto own = [](const Observation& o) { return o.censored ? o.value : o.lloq; };
  for (const auto& s : subjects)
    for (const auto& o : s.observations) {
      const double l = own(o);
      auto& low = lowest[static_cast<std::size_t>(o.observable)];
      if (std::isfinite(l) && !(low <= l)) low = l;
    }
  std::vector<std::vector<double>> out;
  for (const auto& s : subjects) {
    out.emplace_back();
    for (const auto& o : s.observations) {
      const double l = own(o);
      out.back().push_back(std::isfinite(l) ? l : lowest[static_cast<std::size_t>(o.observable)]);
    }
  }
  return out;
}

VpcResult run_vpc(const VpcModel& vpc, const std::vector<Subject>& subjects, const VpcOptions& options) {
  const Model& model = *vpc.population.model;
  if (options.replicates < 1) throw InputError("--replicates " + std::to_string(options.replicates) + ": expected at least 1");
  if (vpc.errors.size() != model.n_observables()) throw InputError("vpc: one error model per observable expected");
  VpcResult result;
  result.replicates = options.replicates;

  // The design: bins, LLOQs, solve rows.
  std::vector<double> all_times;
  for (const auto& s : subjects)
    for (const auto& o : s.observations) all_times.push_back(o.time_day);
  if (all_times.empty()) throw InputError("vpc: the data have no observation records");
  if (options.bin_edges.empty()) {
    result.bin_edges = auto_bin_edges(all_times);
  } else {
    check_edges(options.bin_edges);
    result.bin_edges = options.bin_edges;
  }
  const std::size_t n_bins = result.bin_edges.size() - 1;
  Design design;
  design.lloq = record_lloqs(subjects, model.n_observables());
  std::size_t n_blq = 0, n_lloq = 0;
  for (std::size_t i = 0; i < subjects.size(); ++i) {
    const auto& s = subjects[i];
    std::vector<double> times;
    for (const auto& o : s.observations) times.push_back(o.time_day);
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    design.bin.emplace_back();
    design.time_row.emplace_back();
    for (std::size_t k = 0; k < s.observations.size(); ++k) {
      const auto& o = s.observations[k];
      const int b = bin_of(result.bin_edges, o.time_day);
      design.bin.back().push_back(b);
      result.outside_bins += b < 0;
      design.time_row.back().push_back(static_cast<std::size_t>(std::lower_bound(times.begin(), times.end(), o.time_day) - times.begin()));
      n_blq += o.censored;
      n_lloq += std::isfinite(design.lloq[i][k]);
    }
    design.times.push_back(std::move(times));
  }
  if (options.pred_corrected && n_lloq > 0)
    throw InputError("--pred-corrected: the data have " + std::to_string(n_blq) + " BLQ record(s) and an LLOQ on " +
                     std::to_string(n_lloq) + " record(s); prediction correction of censored values is undefined "
                     "(as in the vpc R package; expected data without BLQ records or LLOQs: drop them, e.g. --ignore \"CENS==1\", or "
                     "run a plain VPC)");

  // Observables present, in model order: their slot in the per-bin arrays.
  std::vector<int> slot(model.n_observables(), -1);
  for (const auto& s : subjects)
    for (const auto& o : s.observations) slot[static_cast<std::size_t>(o.observable)] = 0;
  for (std::size_t j = 0, next = 0; j < slot.size(); ++j)
    if (slot[j] == 0) {
      slot[j] = static_cast<int>(next++);
      result.observables.push_back({static_cast<int>(j), std::vector<VpcBin>(n_bins)});
    }
  const std::size_t n_slots = result.observables.size();
  auto cell = [&](int observable, int bin) { return static_cast<std::size_t>(slot[static_cast<std::size_t>(observable)]) * n_bins + static_cast<std::size_t>(bin); };

  const Eigen::MatrixXd cholesky = omega_cholesky(vpc.population);
  const auto n_eta = static_cast<Eigen::Index>(vpc.population.random_effects.size());
  auto make = [&] { return Workspace{make_solver(model, vpc.method, vpc.solver_options), {}, {}}; };

  // pcVPC: PRED (η = 0) per record and the median PRED of its bin.
  design.pc_factor.resize(subjects.size());
  for (std::size_t i = 0; i < subjects.size(); ++i) design.pc_factor[i].assign(subjects[i].observations.size(), 1.0);
  if (options.pred_corrected) {
    auto w = make();
    std::vector<std::vector<double>> preds(subjects.size());
    std::vector<std::vector<double>> by_cell(n_slots * n_bins);
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      const auto p = subject_parameters(vpc.population, Eigen::VectorXd::Zero(n_eta), subjects[i]);
      if (!predict(w, vpc, design, subjects[i], i, p, preds[i]))
        throw InputError("--pred-corrected: the population prediction of subject " + subjects[i].id + " failed");
      for (std::size_t k = 0; k < preds[i].size(); ++k)
        if (design.bin[i][k] >= 0) by_cell[cell(subjects[i].observations[k].observable, design.bin[i][k])].push_back(preds[i][k]);
    }
    for (std::size_t i = 0; i < subjects.size(); ++i)
      for (std::size_t k = 0; k < preds[i].size(); ++k)
        if (design.bin[i][k] >= 0) {
          const double median = percentile_with_minus_infinity(by_cell[cell(subjects[i].observations[k].observable, design.bin[i][k])], 0.5);
          design.pc_factor[i][k] = median / preds[i][k];  // PCDV = DV · PRED_bin / PRED (lower bound 0)
        }
  }

  // Statistics of one set of values (observed or one replicate) per cell.
  struct CellValues {
    std::vector<double> values;
    std::vector<char> blq;
  };
  auto cell_statistics = [&](std::vector<CellValues>& cells, std::vector<double>& out) {
    out.assign(cells.size() * 4, kNaN);
    for (std::size_t c = 0; c < cells.size(); ++c) {
      auto& v = cells[c];
      if (v.values.empty()) continue;
      std::size_t blq = 0;
      for (std::size_t k = 0; k < v.values.size(); ++k)
        if (v.blq[k]) {
          v.values[k] = kMinusInf;
          ++blq;
        }
      std::sort(v.values.begin(), v.values.end());
      for (int q = 0; q < 3; ++q) {
        const double value = sorted_percentile(v.values, kVpcPercentiles[q]);
        // Keep "below the LLOQ" (−∞) apart from "no data" (NaN) for the intervals across replicates.
        out[c * 4 + static_cast<std::size_t>(q)] = std::isnan(value) ? kMinusInf : value;
      }
      out[c * 4 + 3] = static_cast<double>(blq) / static_cast<double>(v.values.size());
    }
  };

  // The observed statistics.
  {
    std::vector<CellValues> cells(n_slots * n_bins);
    std::vector<std::vector<double>> times(n_slots * n_bins);
    for (std::size_t i = 0; i < subjects.size(); ++i)
      for (std::size_t k = 0; k < subjects[i].observations.size(); ++k) {
        const auto& o = subjects[i].observations[k];
        if (design.bin[i][k] < 0) continue;
        const auto c = cell(o.observable, design.bin[i][k]);
        cells[c].values.push_back(o.value * design.pc_factor[i][k]);
        cells[c].blq.push_back(o.censored ? 1 : 0);
        times[c].push_back(o.time_day);
      }
    std::vector<double> observed;
    cell_statistics(cells, observed);
    for (std::size_t s = 0; s < n_slots; ++s)
      for (std::size_t b = 0; b < n_bins; ++b) {
        const auto c = s * n_bins + b;
        auto& bin = result.observables[s].bins[b];
        bin.lower = result.bin_edges[b];
        bin.upper = result.bin_edges[b + 1];
        bin.n_observed = static_cast<int>(cells[c].values.size());
        bin.n_blq = static_cast<int>(std::count(cells[c].blq.begin(), cells[c].blq.end(), 1));
        bin.time_median = percentile_with_minus_infinity(times[c], 0.5);
        for (int q = 0; q < 3; ++q) {
          const double v = observed[c * 4 + static_cast<std::size_t>(q)];
          bin.observed[q] = std::isfinite(v) ? v : kNaN;
        }
        bin.observed_blq = observed[c * 4 + 3];
      }
  }

  // The replicates: each depends only on (seed, replicate, subject).
  std::vector<ReplicateStats> replicates(static_cast<std::size_t>(options.replicates));
  std::vector<char> done(replicates.size(), 0);
  auto work = [&](Workspace& w, std::size_t r) {
    ReplicateStats stats;
    std::vector<CellValues> cells(n_slots * n_bins);
    std::vector<double> f;
    Eigen::VectorXd z(n_eta);
    for (std::size_t i = 0; i < subjects.size(); ++i) {
      PatientRng rng(options.seed, i, r);
      for (Eigen::Index k = 0; k < n_eta; ++k) z(k) = rng.normal();
      const Eigen::VectorXd eta = cholesky * z;
      const auto& s = subjects[i];
      if (!predict(w, vpc, design, s, i, subject_parameters(vpc.population, eta, s), f)) {
        ++stats.failed;
        continue;
      }
      for (std::size_t k = 0; k < s.observations.size(); ++k) {
        const auto& o = s.observations[k];
        const double y = with_residual_error(vpc.errors[static_cast<std::size_t>(o.observable)], f[k], rng.normal());
        if (design.bin[i][k] < 0) continue;
        const auto c = cell(o.observable, design.bin[i][k]);
        cells[c].values.push_back(y * design.pc_factor[i][k]);
        cells[c].blq.push_back(y < design.lloq[i][k] ? 1 : 0);  // false against a NaN LLOQ
      }
    }
    cell_statistics(cells, stats.values);
    return stats;
  };
  auto sink = [&](std::size_t r, ReplicateStats&& stats) {
    replicates[r] = std::move(stats);
    done[r] = 1;
  };
  run_cohort(all_items(replicates.size()), {options.threads, options.cancel, 1}, make, work, sink, [](Workspace&) {});

  // Intervals of the simulated statistics across the replicates that finished.
  for (std::size_t r = 0; r < replicates.size(); ++r)
    if (done[r]) {
      ++result.replicates_done;
      result.failed_simulations += replicates[r].failed;
    }
  result.interrupted = result.replicates_done < options.replicates;
  for (std::size_t s = 0; s < n_slots; ++s)
    for (std::size_t b = 0; b < n_bins; ++b) {
      const auto c = s * n_bins + b;
      auto& bin = result.observables[s].bins[b];
      for (int q = 0; q < 4; ++q) {
        std::vector<double> across;
        for (std::size_t r = 0; r < replicates.size(); ++r)
          if (done[r] && !std::isnan(replicates[r].values[c * 4 + static_cast<std::size_t>(q)]))
            across.push_back(replicates[r].values[c * 4 + static_cast<std::size_t>(q)]);
        std::sort(across.begin(), across.end());
        for (int a = 0; a < 3; ++a) {
          const double v = sorted_percentile(across, kVpcIntervals[a]);
          if (q < 3) bin.simulated[q][a] = v;
          else bin.simulated_blq[a] = v;
        }
      }
    }
  return result;
}

}  // namespace cartpk::fitting
