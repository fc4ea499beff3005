#include "trial/virtual_trial.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "pkmodel/population.hpp"  // PatientRng

namespace cartpk::trial {

namespace {
// Uniform in [0, m), m >= 1, without modulo bias: reject the 2^64 mod m lowest values.
std::uint64_t uniform_below(PatientRng& rng, std::uint64_t m) {
  const std::uint64_t threshold = (0 - m) % m;
  for (;;) {
    const std::uint64_t x = rng.next_u64();
    if (x >= threshold) return x % m;
  }
}

// A Fisher-Yates shuffle of 0..N-1 that touches only the positions it visits: the first k draws cost O(k²) at
// worst (k = trial size, small), whatever N.
class SparsePermutation {
 public:
  explicit SparsePermutation(std::size_t n) : n_(n) {}
  // Position i (0, 1, 2, ... in turn) of a uniformly random permutation.
  std::size_t next(PatientRng& rng) {
    const std::size_t i = drawn_;
    const std::size_t j = i + static_cast<std::size_t>(uniform_below(rng, n_ - i));
    const std::size_t at_j = value(j);
    set(j, value(i));  // position i is never read again
    ++drawn_;
    return at_j;
  }

 private:
  [[nodiscard]] std::size_t value(std::size_t position) const {
    for (const auto& [p, v] : moved_)
      if (p == position) return v;
    return position;
  }
  void set(std::size_t position, std::size_t v) {
    for (auto& [p, old] : moved_)
      if (p == position) {
        old = v;
        return;
      }
    moved_.emplace_back(position, v);
  }
  std::size_t n_;
  std::size_t drawn_ = 0;
  std::vector<std::pair<std::size_t, std::size_t>> moved_;
};

void check_design(const ToxicityStopDesign& d) {
  if (d.n1 < 1 || d.n <= d.n1 || d.max_tox_stage1 < 0 || d.min_responders < 0 ||
      (d.max_tox_final && *d.max_tox_final < 0))
    throw std::invalid_argument("virtual trial: malformed design");
}

double mean_or_nan(double sum, double count) { return count > 0 ? sum / count : std::nan(""); }

Estimate proportion(std::uint64_t hits, std::uint64_t total) {
  const double r = static_cast<double>(total);
  const double p = total ? static_cast<double>(hits) / r : std::nan("");
  return {p, total ? std::sqrt(p * (1.0 - p) / r) : std::nan("")};
}

// Mean and SD/sqrt(R) of a count from its histogram.
Estimate histogram_mean(const std::vector<std::uint64_t>& counts, std::uint64_t total) {
  if (total == 0) return {std::nan(""), std::nan("")};
  const double r = static_cast<double>(total);
  double sum = 0.0;
  for (std::size_t k = 0; k < counts.size(); ++k) sum += static_cast<double>(k) * static_cast<double>(counts[k]);
  const double mean = sum / r;
  double squares = 0.0;
  for (std::size_t k = 0; k < counts.size(); ++k)
    squares += static_cast<double>(counts[k]) * std::pow(static_cast<double>(k) - mean, 2);
  const double sd = total > 1 ? std::sqrt(squares / (r - 1.0)) : std::nan("");
  return {mean, sd / std::sqrt(r)};
}
}  // namespace

TrialPool make_pool(const OutcomeModel& outcomes, std::span<const double> rows, std::size_t n_columns,
                    std::span<const long> status) {
  if (n_columns == 0 || rows.size() != status.size() * n_columns)
    throw std::invalid_argument("make_pool: metric rows do not match the status rows");
  TrialPool pool;
  for (std::size_t i = 0; i < status.size(); ++i) {
    if (status[i] != 0) {
      ++pool.excluded_failed;
      continue;
    }
    const auto row = rows.subspan(i * n_columns, n_columns);
    const double p = outcomes.toxicity_probability(row);
    if (std::isnan(p)) {
      ++pool.excluded_not_evaluable;
      continue;
    }
    pool.responds.push_back(outcomes.responds(row) ? 1 : 0);
    pool.p_tox.push_back(p);
  }
  return pool;
}

PoolSummary summarize_pool(const TrialPool& pool) {
  PoolSummary s;
  s.patients = pool.size();
  const double n = static_cast<double>(pool.size());
  if (pool.size() == 0) throw std::invalid_argument("summarize_pool: empty pool");
  double responders = 0, tox = 0, tox_responders = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    responders += pool.responds[i];
    tox += pool.p_tox[i];
    if (pool.responds[i]) tox_responders += pool.p_tox[i];
  }
  s.p_resp = responders / n;
  s.mean_p_tox = tox / n;
  s.mean_p_tox_responders = mean_or_nan(tox_responders, responders);
  s.mean_p_tox_nonresponders = mean_or_nan(tox - tox_responders, n - responders);
  // Cells from sums of non-negative terms, so none is negative.
  s.cells.p11 = tox_responders / n;
  s.cells.p10 = (responders - tox_responders) / n;
  s.cells.p01 = (tox - tox_responders) / n;
  s.cells.p00 = std::max(0.0, 1.0 - s.cells.p11 - s.cells.p10 - s.cells.p01);
  const double denominator = s.cells.p10 * s.cells.p01;
  s.odds_ratio = denominator > 0.0 && s.cells.p11 > 0.0 && s.cells.p00 > 0.0
                     ? s.cells.p11 * s.cells.p00 / denominator
                     : std::nan("");
  double vr = 0, vt = 0, c = 0;
  for (std::size_t i = 0; i < pool.size(); ++i) {
    const double dr = pool.responds[i] - s.p_resp, dt = pool.p_tox[i] - s.mean_p_tox;
    vr += dr * dr;
    vt += dt * dt;
    c += dr * dt;
  }
  const double dof = pool.size() > 1 ? n - 1.0 : 1.0;
  s.var_p_resp = vr / dof / n;
  s.var_mean_p_tox = vt / dof / n;
  s.cov_resp_tox = c / dof / n;
  return s;
}

ReplicateOutcome run_replicate(const ToxicityStopDesign& d, const TrialPool& pool, std::uint64_t seed,
                               std::size_t scenario, std::uint64_t replicate) {
  check_design(d);
  if (pool.size() < static_cast<std::size_t>(d.n))
    throw std::invalid_argument("run_replicate: the pool is smaller than the trial");
  PatientRng rng(seed, replicate, kTrialStream + scenario);
  SparsePermutation order(pool.size());
  ReplicateOutcome out;
  int stage2_responders = 0;
  for (int k = 0; k < d.n; ++k) {
    if (k == d.n1 && out.toxicities > d.max_tox_stage1) {
      out.stopped_stage1 = true;
      break;
    }
    const std::size_t patient = order.next(rng);
    const bool toxic = rng.uniform() < pool.p_tox[patient];
    out.responders += pool.responds[patient];
    if (k >= d.n1) stage2_responders += pool.responds[patient];
    out.toxicities += toxic ? 1 : 0;
    ++out.treated;
  }
  if (!out.stopped_stage1) {
    const int counted = d.responders_from == RespondersFrom::all ? out.responders : stage2_responders;
    out.success = counted >= d.min_responders && (!d.max_tox_final || out.toxicities <= *d.max_tox_final);
  }
  return out;
}

TrialTally::TrialTally(int n)
    : responders(static_cast<std::size_t>(n + 1), 0), toxicities(static_cast<std::size_t>(n + 1), 0) {}

void TrialTally::add(const ReplicateOutcome& o) {
  ++replicates;
  stopped_stage1 += o.stopped_stage1;
  successes += o.success;
  ++responders[static_cast<std::size_t>(o.responders)];
  ++toxicities[static_cast<std::size_t>(o.toxicities)];
}

void TrialTally::merge(const TrialTally& other) {
  replicates += other.replicates;
  stopped_stage1 += other.stopped_stage1;
  successes += other.successes;
  for (std::size_t k = 0; k < responders.size(); ++k) responders[k] += other.responders[k];
  for (std::size_t k = 0; k < toxicities.size(); ++k) toxicities[k] += other.toxicities[k];
}

std::vector<TrialTally> simulate_trials(const ToxicityStopDesign& d, const std::vector<TrialPool>& pools,
                                        std::uint64_t seed, std::uint64_t replicates, const CohortOptions& options) {
  check_design(d);
  for (const auto& pool : pools)
    if (pool.size() < static_cast<std::size_t>(d.n))
      throw std::invalid_argument("simulate_trials: a pool is smaller than the trial");
  // Items are blocks of replicates of one scenario: few enough that handing them out costs nothing.
  constexpr std::uint64_t kBlock = 256;
  const std::uint64_t blocks = (replicates + kBlock - 1) / kBlock;
  std::vector<TrialTally> totals(pools.size(), TrialTally(d.n));
  run_cohort(
      all_items(static_cast<std::size_t>(blocks) * pools.size()), options,
      [&] { return std::vector<TrialTally>(pools.size(), TrialTally(d.n)); },
      [&](std::vector<TrialTally>& tallies, std::size_t item) {
        const std::size_t s = item / static_cast<std::size_t>(blocks);
        const std::uint64_t first = (item % blocks) * kBlock, last = std::min(replicates, first + kBlock);
        for (std::uint64_t r = first; r < last; ++r) tallies[s].add(run_replicate(d, pools[s], seed, s, r));
        return 0;
      },
      [](std::size_t, int&&) {},
      [&](std::vector<TrialTally>& tallies) {
        for (std::size_t s = 0; s < totals.size(); ++s) totals[s].merge(tallies[s]);
      });
  return totals;
}

TrialEstimates estimate(const ToxicityStopDesign& d, const TrialTally& t) {
  TrialEstimates e;
  e.p_stop_stage1 = proportion(t.stopped_stage1, t.replicates);
  e.p_success = proportion(t.successes, t.replicates);
  const double n2 = d.n - d.n1;  // N = n1 + n2 (1 - stop): its SE is n2 times that of P(stop)
  e.expected_n = {d.n1 + n2 * (1.0 - e.p_stop_stage1.value), n2 * e.p_stop_stage1.se};
  e.mean_responders = histogram_mean(t.responders, t.replicates);
  e.mean_toxicities = histogram_mean(t.toxicities, t.replicates);
  for (auto c : t.responders) e.responders_distribution.push_back(proportion(c, t.replicates));
  for (auto c : t.toxicities) e.toxicities_distribution.push_back(proportion(c, t.replicates));
  return e;
}

ExactComparison exact_comparison(const ToxicityStopDesign& d, const PoolSummary& pool) {
  ExactComparison out;
  out.independent = evaluate_design(d, pool.p_resp, pool.mean_p_tox, 1.0);
  out.associated = evaluate_design(d, pool.cells);
  // Delta method: the OC as a function of (p_resp, p_tox) at the pool's odds ratio (1 where it is undefined),
  // central differences (one-sided at 0 and 1).
  const double psi = std::isfinite(pool.odds_ratio) && pool.odds_ratio > 0 ? pool.odds_ratio : 1.0;
  constexpr double h = 1e-5;
  auto gradient = [&](double OperatingCharacteristics::*field) {
    auto at = [&](double pr, double pt) { return evaluate_design(d, pr, pt, psi).*field; };
    auto slope = [&](double x, auto f) {
      const double lo = std::max(0.0, x - h), hi = std::min(1.0, x + h);
      return hi > lo ? (f(hi) - f(lo)) / (hi - lo) : 0.0;
    };
    const double gr = slope(pool.p_resp, [&](double x) { return at(x, pool.mean_p_tox); });
    const double gt = slope(pool.mean_p_tox, [&](double x) { return at(pool.p_resp, x); });
    const double variance = gr * gr * pool.var_p_resp + gt * gt * pool.var_mean_p_tox + 2.0 * gr * gt * pool.cov_resp_tox;
    return std::sqrt(std::max(0.0, variance));
  };
  out.pool_se.p_stop_stage1 = gradient(&OperatingCharacteristics::p_stop_stage1);
  out.pool_se.p_success = gradient(&OperatingCharacteristics::p_success);
  out.pool_se.expected_n = gradient(&OperatingCharacteristics::expected_n);
  out.pool_se.expected_toxicities = gradient(&OperatingCharacteristics::expected_toxicities);
  return out;
}

}  // namespace cartpk::trial
