#pragma once
// Visual predictive check (VPC) of a fitted population: R replicates of the observed study (same subjects, doses,
// observation times and covariates; each replicate draws every subject's η ~ N(0, Ω), adds residual error and
// censors below the data's LLOQ), binned by time; per bin and observable the observed 5/50/95 % percentiles against
// the 2.5/50/97.5 % of the simulated percentiles across replicates, and the observed against the simulated fraction
// BLQ. Optionally prediction-corrected (pcVPC, Bergstrand 2011, as the vpc R package). No I/O: the command reads
// the fit and the data and writes the result (tools/cmd_vpc.cpp).
//
// Percentiles are NumPy's and R's default (type 7, linear between order statistics). A BLQ value ranks below
// every quantified one; a percentile whose lower order statistic is BLQ is reported as NaN (vpc's quantile_cens).
// Replicate r's subject i draws from PatientRng(seed, i, r), so results do not depend on the thread count.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "fitting/error_model.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/population.hpp"
#include "pkmodel/subject.hpp"

namespace cartpk::fitting {

struct VpcModel {
  PopulationModel population;        // typical values (fixed ones included), Ω, continuous covariate relations
  std::vector<ErrorModel> errors;    // one per model observable
  std::string method = "closed";     // "closed" or "ode"
  SolverOptions solver_options;
};

struct VpcOptions {
  int replicates = 200;
  std::uint64_t seed = 1;
  std::vector<double> bin_edges;     // strictly increasing; empty: automatic (auto_bin_edges)
  bool pred_corrected = false;
  int threads = 0;                   // 0: all cores
  const std::atomic<bool>* cancel = nullptr;
};

inline constexpr double kVpcPercentiles[3] = {0.05, 0.50, 0.95};   // of the data in a bin
inline constexpr double kVpcIntervals[3] = {0.025, 0.50, 0.975};   // of a simulated statistic across replicates

// One observable in one bin.
struct VpcBin {
  double lower = 0.0, upper = 0.0;   // edges (day); a bin holds lower ≤ t < upper, the last one also t = upper
  double time_median = 0.0;          // median time of the observed records in the bin (NaN when none)
  int n_observed = 0, n_blq = 0;
  double observed[3] = {};           // observed 5/50/95 % (NaN when none or BLQ)
  double simulated[3][3] = {};       // [percentile][2.5/50/97.5 % across replicates]
  double observed_blq = 0.0;         // observed fraction BLQ
  double simulated_blq[3] = {};      // simulated fraction BLQ: 2.5/50/97.5 % across replicates
};

struct VpcObservable {
  int observable = 0;                // model observable index
  std::vector<VpcBin> bins;          // one per bin of the edges
};

struct VpcResult {
  std::vector<double> bin_edges;
  std::vector<VpcObservable> observables;  // those with records in the data, in model order
  int replicates = 0;
  int replicates_done = 0;           // fewer when cancelled
  long failed_simulations = 0;       // (replicate, subject) pairs whose model solve failed: their records left out
  std::size_t outside_bins = 0;      // records outside the given edges, left out
  bool interrupted = false;
};

// Automatic time bins (as the vpc R package's and PsN's count-balanced binning): about
// min(max(3, ⌈n/40⌉), 15) bins (at most the number of distinct times) holding similar numbers of records, edges
// halfway between neighbouring distinct times, outer edges at the first and last time.
std::vector<double> auto_bin_edges(const std::vector<double>& record_times);

// Type-7 percentile of `values` where `blq[k]` marks values below the LLOQ (ranked lowest); NaN when the lower
// order statistic is BLQ or there are no values. Sorts a copy.
double censored_percentile(std::vector<double> values, const std::vector<char>& blq, double p);
// Type-7 percentile of finite values; −∞ entries rank lowest and make the result NaN when they are the lower
// order statistic (how a BLQ percentile of one replicate enters the interval across replicates).
double percentile_with_minus_infinity(std::vector<double> values, double p);

// The LLOQ of each record: its own (censored: its DV; else its LLOQ column), else the lowest LLOQ the data give for
// its observable, else NaN (never censored).
std::vector<std::vector<double>> record_lloqs(const std::vector<Subject>& subjects, std::size_t n_observables);

// Throws InputError (naming --pred-corrected) when pcVPC is asked for data with BLQ records or LLOQs, and for
// non-increasing or too few given edges (naming --bins); otherwise runs the replicates.
VpcResult run_vpc(const VpcModel& model, const std::vector<Subject>& subjects, const VpcOptions& options);

}  // namespace cartpk::fitting
