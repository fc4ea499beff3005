#include "tools/vpc_output.hpp"

#include <cmath>
#include <cstdio>

#include "io/h5_file.hpp"
#include "io/sha256.hpp"

namespace cartpk::cli {

void write_vpc_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const VpcRun& run) {
  const auto& r = *run.result;
  const Model& model = *run.model->population.model;
  io::H5File file(path);
  const auto root = file.root();
  root.attribute("layout_version", io::kLayoutVersion);
  root.attribute("cartpk_version", run_info.cartpk_version);
  root.attribute("command_line", run_info.command_line);
  root.attribute("created_utc", io::utc_now());
  root.attribute("model", model.name());
  root.attribute("fit", run.fit_path);
  root.attribute("data", run.data_path);
  root.attribute("data_sha256", io::sha256_file_hex(run.data_path));
  const auto vpc = root.subgroup("vpc");
  vpc.attribute("replicates", static_cast<long>(r.replicates));
  vpc.attribute("replicates_done", static_cast<long>(r.replicates_done));
  vpc.attribute("interrupted", static_cast<long>(r.interrupted ? 1 : 0));
  vpc.attribute("seed", static_cast<long>(run.seed));
  vpc.attribute("binning", run.auto_bins ? "auto" : "given");
  vpc.attribute("pred_corrected", static_cast<long>(run.pred_corrected ? 1 : 0));
  vpc.attribute("failed_simulations", r.failed_simulations);
  vpc.attribute("outside_bins", static_cast<long>(r.outside_bins));
  vpc.attribute("percentiles", "5, 50, 95 % of the records in a bin (type 7); NaN where the percentile is BLQ");
  vpc.attribute("intervals", "2.5, 50, 97.5 % of a simulated statistic across the replicates");
  vpc.write("bin_edges", r.bin_edges, "day");
  std::vector<std::string> names;
  for (const auto& o : r.observables) names.emplace_back(model.observables()[static_cast<std::size_t>(o.observable)].name);
  vpc.write("observables", names);
  for (std::size_t s = 0; s < r.observables.size(); ++s) {
    const auto& bins = r.observables[s].bins;
    const auto nb = static_cast<Eigen::Index>(bins.size());
    const std::string unit(model.observables()[static_cast<std::size_t>(r.observables[s].observable)].unit);
    std::vector<double> time_median, observed_blq;
    std::vector<long> n_observed, n_blq;
    Eigen::MatrixXd observed(nb, 3), simulated_blq(nb, 3), simulated[3] = {Eigen::MatrixXd(nb, 3), Eigen::MatrixXd(nb, 3),
                                                                           Eigen::MatrixXd(nb, 3)};
    for (Eigen::Index b = 0; b < nb; ++b) {
      const auto& bin = bins[static_cast<std::size_t>(b)];
      time_median.push_back(bin.time_median);
      observed_blq.push_back(bin.observed_blq);
      n_observed.push_back(bin.n_observed);
      n_blq.push_back(bin.n_blq);
      for (int q = 0; q < 3; ++q) {
        observed(b, q) = bin.observed[q];
        simulated_blq(b, q) = bin.simulated_blq[q];
        for (int a = 0; a < 3; ++a) simulated[q](b, a) = bin.simulated[q][a];
      }
    }
    const auto g = vpc.subgroup(names[s]);
    g.attribute("unit", unit);
    g.write("time_median", time_median, "day");
    g.write("n_observed", n_observed);
    g.write("n_blq", n_blq);
    g.write("observed", observed, unit);
    g.write("simulated_p05", simulated[0], unit);
    g.write("simulated_p50", simulated[1], unit);
    g.write("simulated_p95", simulated[2], unit);
    g.write("observed_blq", observed_blq, "fraction");
    g.write("simulated_blq", simulated_blq, "fraction");
  }
  file.close();
}

void print_vpc_summary(const VpcRun& run) {
  const auto& r = *run.result;
  const Model& model = *run.model->population.model;
  std::printf("cartpk vpc: %s%s, %d of %d replicates, %zu bins (%s)", std::string(model.name()).c_str(),
              run.pred_corrected ? " (prediction-corrected)" : "", r.replicates_done, r.replicates,
              r.bin_edges.size() - 1, run.auto_bins ? "auto" : "given");
  if (r.failed_simulations > 0) std::printf(", %ld failed subject simulations left out", r.failed_simulations);
  if (r.outside_bins > 0) std::printf(", %zu records outside the bins", r.outside_bins);
  std::printf("\n");
  for (const auto& o : r.observables) {
    const auto& spec = model.observables()[static_cast<std::size_t>(o.observable)];
    std::printf("%s (%s): observed percentile [simulated 95 %% interval]; fraction BLQ observed [simulated]\n",
                std::string(spec.name).c_str(), std::string(spec.unit).c_str());
    std::printf("%-19s %5s %5s  %-28s %-28s %-28s %s\n", "bin (day)", "n", "BLQ", "5 %", "50 %", "95 %", "BLQ fraction");
    for (const auto& b : o.bins) {
      char range[64];
      std::snprintf(range, sizeof range, "[%g, %g%s", b.lower, b.upper, &b == &o.bins.back() ? "]" : ")");
      std::printf("%-19s %5d %5d ", range, b.n_observed, b.n_blq);
      for (int q = 0; q < 3; ++q) {
        char cell[64];
        std::snprintf(cell, sizeof cell, "%.3g [%.3g, %.3g]", b.observed[q], b.simulated[q][0], b.simulated[q][2]);
        std::printf(" %-28s", cell);
      }
      std::printf(" %.2f [%.2f, %.2f]\n", b.observed_blq, b.simulated_blq[0], b.simulated_blq[2]);
    }
  }
}

}  // namespace cartpk::cli
