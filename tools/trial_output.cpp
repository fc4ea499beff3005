#include "tools/trial_output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "io/atomic_file.hpp"
#include "io/csv_writer.hpp"
#include "io/h5_file.hpp"
#include "io/simulation_export.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::cli {

namespace {
// One column of the per-scenario table (CSV and /trial datasets): name, HDF5 units, whether it is a count
// (int64 in HDF5), and its value.
struct Column {
  const char* name;
  const char* units;
  bool integer;
  std::function<double(const TrialScenarioResult&)> value;
};

const std::vector<Column>& columns() {
  using R = const TrialScenarioResult&;
  static const std::vector<Column> table = {
      {"pool_patients", "patients", true, [](R r) { return double(r.pool_patients); }},
      {"excluded_failed", "patients", true, [](R r) { return double(r.excluded_failed); }},
      {"excluded_not_evaluable", "patients", true, [](R r) { return double(r.excluded_not_evaluable); }},
      {"pool_p_resp", "probability", false, [](R r) { return r.pool.p_resp; }},
      {"pool_mean_p_tox", "probability", false, [](R r) { return r.pool.mean_p_tox; }},
      {"pool_p_tox_responders", "probability", false, [](R r) { return r.pool.mean_p_tox_responders; }},
      {"pool_p_tox_nonresponders", "probability", false, [](R r) { return r.pool.mean_p_tox_nonresponders; }},
      {"pool_odds_ratio", "-", false, [](R r) { return r.pool.odds_ratio; }},
      {"p_stop_stage1", "probability", false, [](R r) { return r.simulated.p_stop_stage1.value; }},
      {"p_stop_stage1_se", "probability", false, [](R r) { return r.simulated.p_stop_stage1.se; }},
      {"p_success", "probability", false, [](R r) { return r.simulated.p_success.value; }},
      {"p_success_se", "probability", false, [](R r) { return r.simulated.p_success.se; }},
      {"expected_n", "patients", false, [](R r) { return r.simulated.expected_n.value; }},
      {"expected_n_se", "patients", false, [](R r) { return r.simulated.expected_n.se; }},
      {"mean_responders", "patients", false, [](R r) { return r.simulated.mean_responders.value; }},
      {"mean_responders_se", "patients", false, [](R r) { return r.simulated.mean_responders.se; }},
      {"mean_toxicities", "patients", false, [](R r) { return r.simulated.mean_toxicities.value; }},
      {"mean_toxicities_se", "patients", false, [](R r) { return r.simulated.mean_toxicities.se; }},
      {"exact_p_stop_stage1", "probability", false, [](R r) { return r.exact.independent.p_stop_stage1; }},
      {"exact_p_success", "probability", false, [](R r) { return r.exact.independent.p_success; }},
      {"exact_expected_n", "patients", false, [](R r) { return r.exact.independent.expected_n; }},
      {"exact_expected_toxicities", "patients", false, [](R r) { return r.exact.independent.expected_toxicities; }},
      {"exact_assoc_p_stop_stage1", "probability", false, [](R r) { return r.exact.associated.p_stop_stage1; }},
      {"exact_assoc_p_success", "probability", false, [](R r) { return r.exact.associated.p_success; }},
      {"exact_assoc_expected_n", "patients", false, [](R r) { return r.exact.associated.expected_n; }},
      {"exact_assoc_expected_toxicities", "patients", false, [](R r) { return r.exact.associated.expected_toxicities; }},
      {"pool_se_p_stop_stage1", "probability", false, [](R r) { return r.exact.pool_se.p_stop_stage1; }},
      {"pool_se_p_success", "probability", false, [](R r) { return r.exact.pool_se.p_success; }},
      {"pool_se_expected_n", "patients", false, [](R r) { return r.exact.pool_se.expected_n; }},
  };
  return table;
}

// [n_scenarios × (n + 1)]: value or SE of P(count = k).
Eigen::MatrixXd distribution(const TrialReport& report, bool responders, bool se) {
  const auto k = static_cast<Eigen::Index>(report.design.n + 1);
  Eigen::MatrixXd m(static_cast<Eigen::Index>(report.scenarios.size()), k);
  for (std::size_t s = 0; s < report.scenarios.size(); ++s) {
    const auto& d = responders ? report.scenarios[s].simulated.responders_distribution
                               : report.scenarios[s].simulated.toxicities_distribution;
    for (Eigen::Index j = 0; j < k; ++j) {
      const auto& e = d[static_cast<std::size_t>(j)];
      m(static_cast<Eigen::Index>(s), j) = se ? e.se : e.value;
    }
  }
  return m;
}

void write_h5(const TrialReport& report, const std::filesystem::path& path, const std::string& command_line) {
  io::H5File file(path);
  {
    const auto root = file.root();
    root.attribute("layout_version", io::kLayoutVersion);
    root.attribute("cartpk_version", std::string(CARTPK_VERSION));
    root.attribute("command_line", command_line);
    if (!report.pool_model.empty()) root.attribute("model", report.pool_model);
    const auto g = root.subgroup("trial");
    const auto& d = report.design;
    g.attribute("design_file", report.design_file);
    g.attribute("rule", report.design_rule);
    g.attribute("response_rule", report.response_rule);
    g.attribute("toxicity_link", report.toxicity_link);
    g.attribute("n1", long{d.n1});
    g.attribute("n", long{d.n});
    g.attribute("max_tox_stage1", long{d.max_tox_stage1});
    g.attribute("min_responders", long{d.min_responders});
    g.attribute("responders_from", std::string(d.responders_from == trial::RespondersFrom::all ? "all" : "stage2"));
    if (d.max_tox_final) g.attribute("max_tox_final", long{*d.max_tox_final});
    g.attribute("replicates", static_cast<long>(report.replicates));
    g.attribute("seed", std::to_string(report.seed));
    g.attribute("pool", report.pool_source);
    g.attribute("pool_seed", report.pool_seed);
    g.attribute("pool_complete", long{report.pool_complete ? 1 : 0});
    g.attribute("trial_seconds", report.trial_seconds);
    std::vector<std::string> names{"scenario", "definition"}, scenario_names, definitions;
    for (const auto& s : report.scenarios) {
      scenario_names.push_back(s.name);
      definitions.push_back(s.definition);
    }
    g.write("scenario", scenario_names);
    g.write("definition", definitions);
    for (const auto& c : columns()) {
      names.emplace_back(c.name);
      if (c.integer) {
        std::vector<long> values;
        for (const auto& s : report.scenarios) values.push_back(std::lround(c.value(s)));
        g.write(c.name, values);
      } else {
        std::vector<double> values;
        for (const auto& s : report.scenarios) values.push_back(c.value(s));
        g.write(c.name, values, c.units);
      }
    }
    g.attribute("columns", names);
    g.write("responders_distribution", distribution(report, true, false), "probability");
    g.write("responders_distribution_se", distribution(report, true, true), "probability");
    g.write("toxicities_distribution", distribution(report, false, false), "probability");
    g.write("toxicities_distribution_se", distribution(report, false, true), "probability");
  }
  file.close();
}

std::string with_se(const trial::Estimate& e, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f (%.*f)", decimals, e.value, decimals, e.se);
  return buffer;
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}
}  // namespace

std::string design_rule_text(const trial::ToxicityStopDesign& d) {
  const bool all = d.responders_from == trial::RespondersFrom::all;
  return "stage 1: " + std::to_string(d.n1) + " patients, stop if toxicities > " + std::to_string(d.max_tox_stage1) +
         "; stage 2: " + std::to_string(d.n - d.n1) + " more; success if responders " +
         (all ? "among all " + std::to_string(d.n) : "among the " + std::to_string(d.n - d.n1) + " stage-2 patients") +
         " >= " + std::to_string(d.min_responders) +
         (d.max_tox_final ? " and toxicities among all " + std::to_string(d.n) + " <= " + std::to_string(*d.max_tox_final) : "");
}

void print_trial_report(const TrialReport& r) {
  std::printf("Virtual trials: %llu replicates per scenario, seed %llu; pool %s\n",
              static_cast<unsigned long long>(r.replicates), static_cast<unsigned long long>(r.seed),
              r.pool_source.c_str());
  std::printf("design (%s): %s\nresponse: %s\ntoxicity: %s\n", r.design_file.c_str(), r.design_rule.c_str(),
              r.response_rule.c_str(), r.toxicity_link.c_str());
  for (const auto& s : r.scenarios) {
    std::printf("\nscenario %s (%s): pool of %zu patients (excluded: %zu failed, %zu not evaluable)\n", s.name.c_str(),
                s.definition.c_str(), s.pool_patients, s.excluded_failed, s.excluded_not_evaluable);
    std::printf("  pool: response rate %s, mean P(toxicity) %s (responders %s, non-responders %s; odds ratio %s)\n",
                fixed(s.pool.p_resp, 3).c_str(), fixed(s.pool.mean_p_tox, 3).c_str(),
                fixed(s.pool.mean_p_tox_responders, 3).c_str(), fixed(s.pool.mean_p_tox_nonresponders, 3).c_str(),
                fixed(s.pool.odds_ratio, 2).c_str());
    std::printf("  %-24s %-20s %-12s %-12s %s\n", "", "simulated (MC SE)", "exact indep.", "exact assoc.", "pool SE");
    const auto row = [](const char* label, const trial::Estimate& sim, double independent, double associated,
                        double pool_se, int decimals) {
      std::printf("  %-24s %-20s %-12s %-12s %s\n", label, with_se(sim, decimals).c_str(), fixed(independent, decimals).c_str(),
                  fixed(associated, decimals).c_str(), fixed(pool_se, decimals).c_str());
    };
    row("P(stop after stage 1)", s.simulated.p_stop_stage1, s.exact.independent.p_stop_stage1,
        s.exact.associated.p_stop_stage1, s.exact.pool_se.p_stop_stage1, 4);
    row("P(success)", s.simulated.p_success, s.exact.independent.p_success, s.exact.associated.p_success,
        s.exact.pool_se.p_success, 4);
    row("expected N", s.simulated.expected_n, s.exact.independent.expected_n, s.exact.associated.expected_n,
        s.exact.pool_se.expected_n, 2);
    row("responders (mean)", s.simulated.mean_responders, s.exact.independent.expected_n * s.pool.p_resp,
        s.exact.associated.expected_n * s.pool.p_resp, std::nan(""), 2);
    row("toxicities (mean)", s.simulated.mean_toxicities, s.exact.independent.expected_toxicities,
        s.exact.associated.expected_toxicities, s.exact.pool_se.expected_toxicities, 2);
  }
  std::size_t width = 8;
  for (const auto& s : r.scenarios) width = std::max(width, s.name.size());
  std::printf("\n  %-*s  %-18s %-18s %-14s %s\n", static_cast<int>(width), "scenario", "P(stop stage 1)", "P(success)",
              "expected N", "(simulated, MC SE)");
  for (const auto& s : r.scenarios)
    std::printf("  %-*s  %-18s %-18s %s\n", static_cast<int>(width), s.name.c_str(),
                with_se(s.simulated.p_stop_stage1, 4).c_str(), with_se(s.simulated.p_success, 4).c_str(),
                with_se(s.simulated.expected_n, 2).c_str());
}

void write_trial_outputs(const TrialReport& report, const std::string& csv_path, const std::string& h5_path,
                         const std::string& command_line) {
  std::unique_ptr<io::AtomicOutput> csv, h5;
  if (!csv_path.empty()) {
    csv = std::make_unique<io::AtomicOutput>(csv_path);
    std::vector<io::CsvColumn> table{{"scenario", {}, {}}};
    for (const auto& s : report.scenarios) table.front().text.push_back(s.name);
    for (const auto& c : columns()) {
      io::CsvColumn column{c.name, {}};
      for (const auto& s : report.scenarios) column.values.push_back(c.value(s));
      table.push_back(std::move(column));
    }
    io::write_csv(csv->temporary_path(), table);
  }
  if (!h5_path.empty()) {
    h5 = std::make_unique<io::AtomicOutput>(h5_path);
    write_h5(report, h5->temporary_path(), command_line);
  }
  io::commit_together({csv.get(), h5.get()});
}

}  // namespace cartpk::cli
