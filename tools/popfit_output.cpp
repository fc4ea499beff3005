#include "tools/popfit_output.hpp"

#include <cmath>
#include <cstdio>

#include "fitting/population_setup.hpp"
#include "io/csv_writer.hpp"
#include "io/h5_file.hpp"
#include "io/population_h5.hpp"

namespace cartpk::cli {

namespace {
std::vector<std::string> random_effect_names(const PopfitRun& run) {
  std::vector<std::string> names;
  for (int p : run.setup->random_effects)
    names.emplace_back(run.setup->base.model->parameters()[static_cast<std::size_t>(p)].name);
  return names;
}
}  // namespace

void write_popfit_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const PopfitRun& run) {
  const auto& setup = *run.setup;
  const auto& r = *run.result;
  const Model& model = *setup.base.model;
  io::H5File file(path);
  const auto root = file.root();
  io::write_provenance(root, run_info, model.name());
  io::write_data_provenance(root, run.data_path);
  const auto pop = root.subgroup("popfit");
  pop.attribute("method", fitting::method_name(r.method));
  pop.attribute("minus2ll", r.minus2ll);
  pop.attribute("minus2ll_method", r.minus2ll_method);
  pop.attribute("minus2ll_se", r.minus2ll_se);
  pop.attribute("ofv_nonmem", r.ofv_nonmem);
  pop.attribute("aic", r.aic);
  pop.attribute("bic", r.bic);
  pop.attribute("covariance_status", r.covariance_status);
  pop.attribute("interrupted", static_cast<long>(r.interrupted ? 1 : 0));
  pop.attribute("seed", static_cast<long>(run.seed));
  if (r.method == fitting::PopulationMethod::saem) {
    pop.attribute("saem_exploration", std::string(r.saem_auto_stop ? "auto" : "fixed"));
    pop.attribute("saem_burn_in_iterations", static_cast<long>(r.saem_burn_in_iterations));
    pop.attribute("saem_explore_iterations", static_cast<long>(r.saem_explore_iterations));
    pop.attribute("saem_annealing_iterations", static_cast<long>(r.saem_annealing_iterations));
  }
  pop.attribute("fit_seconds", r.seconds);
  pop.attribute("rtol", setup.base.solver_options.rtol);
  pop.attribute("atol_scale", setup.base.solver_options.atol_scale);
  pop.attribute("n_observations", static_cast<long>(r.n_observations));
  pop.attribute("n_censored", static_cast<long>(r.n_censored));
  pop.attribute("npde_samples", static_cast<long>(r.npde_samples));
  pop.attribute("npde_failed_simulations", r.npde_failed_simulations);
  pop.attribute("npde_singular_subjects", static_cast<long>(r.npde_singular_subjects));
  std::vector<std::string> names, kinds;
  std::vector<double> estimates, ses;
  for (const auto& p : r.parameters) {
    names.push_back(p.name);
    kinds.push_back(p.kind);
    estimates.push_back(p.estimate);
    ses.push_back(p.se);
  }
  const auto table = pop.subgroup("parameters");
  table.write("names", names);
  table.write("kinds", kinds);
  table.write("estimates", estimates, "natural scale (typical values in the parameters' units; omega on the log scale)");
  table.write("se", ses, "same as estimates");
  // The residual error model of every observable (fixed ones too), so `cartpk vpc` can simulate it.
  std::vector<std::string> error_types;
  Eigen::MatrixXd error_values(static_cast<Eigen::Index>(r.estimates.errors.size()), 2);
  for (std::size_t j = 0; j < r.estimates.errors.size(); ++j) {
    error_types.push_back(fitting::error_type_name(r.estimates.errors[j].type));
    error_values.row(static_cast<Eigen::Index>(j)) << r.estimates.errors[j].a, r.estimates.errors[j].b;
  }
  pop.write("error_models", error_types);
  pop.write("error_values", error_values, "a (additive SD, or log-scale SD for lognormal), b (proportional SD) per observable");
  pop.write("omega", r.estimates.omega, "variance of eta (estimation scale)");
  pop.write("random_effects", random_effect_names(run));
  pop.write("shrinkage_sd", r.shrinkage_sd, "%");
  io::write_population(pop.subgroup("population"), fitting::to_population_model(setup, *run.subjects, r.estimates.mu,
                                                                                r.estimates.beta, r.estimates.omega));
  // Per subject: EBEs (conditional modes) and η; per observation: the diagnostics.
  const auto n_eta = r.estimates.omega.rows();
  Eigen::MatrixXd eta(static_cast<Eigen::Index>(r.subjects.size()), n_eta);
  Eigen::MatrixXd ebe(static_cast<Eigen::Index>(r.subjects.size()), static_cast<Eigen::Index>(model.n_parameters()));
  std::vector<std::string> ids, status;
  std::vector<double> contribution;
  for (std::size_t i = 0; i < r.subjects.size(); ++i) {
    const auto& s = r.subjects[i];
    ids.push_back(s.id);
    status.push_back(s.message);
    contribution.push_back(s.focei_contribution);
    for (Eigen::Index k = 0; k < n_eta; ++k) eta(static_cast<Eigen::Index>(i), k) = s.ok ? s.eta(k) : std::nan("");
    for (std::size_t p = 0; p < model.n_parameters(); ++p)
      ebe(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(p)) = s.ok ? s.parameters[p] : std::nan("");
  }
  const auto subjects = pop.subgroup("subjects");
  subjects.write("id", ids);
  subjects.write("status", status);
  subjects.write("eta", eta, "-");
  std::vector<std::string> parameter_names;
  for (const auto& p : model.parameters()) parameter_names.emplace_back(p.name);
  subjects.write("parameter_names", parameter_names);
  subjects.write("ebe", ebe, "model parameter units");
  subjects.write("focei_contribution", contribution, "-2LL");
  Eigen::MatrixXd records(static_cast<Eigen::Index>(r.n_observations), 11);
  std::vector<std::string> record_ids;
  Eigen::Index row = 0;
  for (std::size_t i = 0; i < r.subjects.size(); ++i)
    for (std::size_t o = 0; o < (*run.subjects)[i].observations.size(); ++o, ++row) {
      const auto& obs = (*run.subjects)[i].observations[o];
      const auto& s = r.subjects[i];
      record_ids.push_back(s.id);
      records.row(row) << obs.time_day, obs.observable, obs.value, obs.censored ? 1.0 : 0.0, s.pred[o], s.ipred[o],
          s.iwres[o], s.cwres[o], static_cast<double>(i), s.npde[o], s.pd[o];
    }
  const auto obs_group = pop.subgroup("observations");
  obs_group.write("id", record_ids);
  obs_group.write("table", records, "TIME day, observable index, DV (LLOQ when censored), CENS, PRED, IPRED, IWRES, CWRES, subject index, NPDE, PD");
  obs_group.write("columns", std::vector<std::string>{"TIME", "OBSERVABLE", "DV", "CENS", "PRED", "IPRED", "IWRES", "CWRES",
                                                      "SUBJECT", "NPDE", "PD"});
  std::vector<std::string> observable_names;
  for (const auto& o : model.observables()) observable_names.emplace_back(o.name);
  obs_group.write("observable_names", observable_names);
  Eigen::MatrixXd trace(static_cast<Eigen::Index>(r.trace.size()), 2 + r.estimates.mu.size());
  for (std::size_t k = 0; k < r.trace.size(); ++k) {
    trace(static_cast<Eigen::Index>(k), 0) = r.trace[k].iteration;
    trace(static_cast<Eigen::Index>(k), 1) = r.trace[k].objective;
    for (Eigen::Index m = 0; m < r.estimates.mu.size(); ++m) trace(static_cast<Eigen::Index>(k), 2 + m) = r.trace[k].mu(m);
  }
  pop.write("trace", trace, "iteration, objective, mu (estimation scale) per estimated parameter");
  file.close();
}

void write_popfit_subject_table(const std::filesystem::path& path, const PopfitRun& run) {
  const auto& r = *run.result;
  const Model& model = *run.setup->base.model;
  std::vector<io::CsvColumn> columns;
  io::CsvColumn id{"ID", {}, {}}, status{"status", {}, {}};
  for (const auto& s : r.subjects) {
    id.text.push_back(s.id);
    status.text.push_back(s.message);
  }
  columns.push_back(id);
  for (std::size_t p = 0; p < model.n_parameters(); ++p) {
    io::CsvColumn c{std::string(model.parameters()[p].name), {}, {}};
    for (const auto& s : r.subjects) c.values.push_back(s.ok ? s.parameters[p] : std::nan(""));
    columns.push_back(c);
  }
  const auto re = random_effect_names(run);
  for (std::size_t k = 0; k < re.size(); ++k) {
    io::CsvColumn c{"eta_" + re[k], {}, {}};
    for (const auto& s : r.subjects) c.values.push_back(s.ok ? s.eta(static_cast<Eigen::Index>(k)) : std::nan(""));
    columns.push_back(c);
  }
  io::CsvColumn contribution{"focei_m2ll", {}, {}}, n_obs{"n_obs", {}, {}};
  for (std::size_t i = 0; i < r.subjects.size(); ++i) {
    contribution.values.push_back(r.subjects[i].focei_contribution);
    n_obs.values.push_back(static_cast<double>((*run.subjects)[i].observations.size()));
  }
  columns.push_back(contribution);
  columns.push_back(n_obs);
  columns.push_back(status);
  io::write_csv(path, columns);
}

void write_popfit_population_table(const std::filesystem::path& path, const PopfitRun& run) {
  io::CsvColumn name{"parameter", {}, {}}, kind{"kind", {}, {}}, estimate{"estimate", {}, {}}, se{"se", {}, {}},
      rse{"rse_percent", {}, {}};
  for (const auto& p : run.result->parameters) {
    name.text.push_back(p.name);
    kind.text.push_back(p.kind);
    estimate.values.push_back(p.estimate);
    se.values.push_back(p.se);
    rse.values.push_back(100.0 * p.se / std::abs(p.estimate));
  }
  const std::vector<io::CsvColumn> columns{name, kind, estimate, se, rse};
  io::write_csv(path, columns);
}

void print_popfit_summary(const PopfitRun& run) {
  const auto& r = *run.result;
  std::printf("cartpk popfit: %s, %zu subjects, %zu observations (%zu BLQ), %.1f s%s\n",
              fitting::method_name(r.method).c_str(), r.subjects.size(), r.n_observations, r.n_censored, r.seconds,
              r.interrupted ? " (interrupted: partial result)" : "");
  std::printf("%-28s %14s %12s %8s\n", "parameter", "estimate", "SE", "RSE %");
  for (const auto& p : r.parameters)
    std::printf("%-28s %14.6g %12.4g %8.1f\n", p.name.c_str(), p.estimate, p.se, 100.0 * p.se / std::abs(p.estimate));
  std::printf("-2LL %.4f (%s)", r.minus2ll, r.minus2ll_method.c_str());
  if (std::isfinite(r.minus2ll_se)) std::printf(" ± %.3f", r.minus2ll_se);
  std::printf("; NONMEM-convention OFV %.4f; AIC %.3f; BIC %.3f\n", r.ofv_nonmem, r.aic, r.bic);
  const auto re = random_effect_names(run);
  std::printf("shrinkage (SD):");
  for (std::size_t k = 0; k < re.size(); ++k) std::printf(" %s %.1f %%", re[k].c_str(), r.shrinkage_sd[k]);
  std::printf("\nstandard errors: %s\n", r.covariance_status.c_str());
  double sum = 0.0, sum2 = 0.0;
  long n = 0;
  for (const auto& s : r.subjects)
    for (double v : s.npde)
      if (std::isfinite(v)) {
        sum += v;
        sum2 += v * v;
        ++n;
      }
  if (n > 1)  // under the model the npde are N(0, 1): the first look at the fit (Comets et al. 2008)
    std::printf("NPDE (%d replicates per subject): mean %.3f, variance %.3f over %ld records\n", r.npde_samples,
                sum / static_cast<double>(n), (sum2 - sum * sum / static_cast<double>(n)) / static_cast<double>(n - 1), n);
}

}  // namespace cartpk::cli
