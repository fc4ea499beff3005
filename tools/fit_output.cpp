#include "tools/fit_output.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "io/csv_writer.hpp"
#include "fitting/fit_report.hpp"
#include "io/h5_file.hpp"

namespace cartpk::cli {

namespace {
using fitting::FitStatus;

std::string status_text(const fitting::SubjectFit& fit) {
  switch (fit.status) {
    case FitStatus::ok: return fit.message;
    case FitStatus::failed: return "failed: " + fit.message;
    case FitStatus::not_run: return "not run (interrupted)";
  }
  return "?";
}

// Group name for a subject: its ID where that is a safe HDF5 name, else its position.
std::string group_name(const std::string& id, std::size_t index) {
  bool safe = !id.empty() && id != "." && id != "..";
  for (char c : id) safe = safe && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  return safe ? id : "subject_" + std::to_string(index + 1);
}

// Every estimated name across subjects (kinetic first, then error parameters), in first-seen order.
std::vector<std::string> all_names(const FitRun& run) {
  std::vector<std::string> names;
  for (const auto& fit : *run.fits)
    for (const auto& n : fit.names)
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  return names;
}

double value_of(const fitting::SubjectFit& fit, const std::string& name, const std::vector<double>& values) {
  for (std::size_t k = 0; k < fit.names.size() && k < values.size(); ++k)
    if (fit.names[k] == name) return values[k];
  return std::nan("");
}

// The doses the subject's fit used: time, amount (cells), weight, state (CMT, -1: the model's dose state), duration.
void write_doses(const io::H5Group& group, const Subject& subject) {
  if (subject.doses.empty()) return;
  std::vector<double> time, amount, weight, duration;
  std::vector<long> compartment;
  for (const auto& d : subject.doses) {
    time.push_back(d.dose.time_day);
    amount.push_back(d.dose.amount);
    weight.push_back(d.dose.weight_kg);
    duration.push_back(d.dose.duration_day);
    compartment.push_back(d.dose.compartment);
  }
  const auto doses = group.subgroup("doses");
  doses.write("time", time, "day");
  doses.write("amount", amount, "cells");
  doses.write("weight", weight, "kg");
  doses.write("duration", duration, "day (0: bolus)");
  doses.write("compartment", compartment);
}

void write_subject(const io::H5Group& group, const fitting::FitSetup& setup, const Subject& subject,
                   const fitting::SubjectFit& fit) {
  const Model& model = *setup.model;
  const auto summary = fitting::report(setup, subject, fit);
  group.attribute("id", fit.id);
  group.attribute("status_code", summary.status_code);
  group.attribute("n_estimated", static_cast<long>(summary.n_estimated));
  group.attribute("ofv_dv_scale", summary.ofv_dv_scale);
  group.attribute("aic", summary.aic);
  group.attribute("bic", summary.bic);
  write_doses(group, subject);
  group.attribute("status", fit.status == FitStatus::ok ? std::string("ok") : fit.status == FitStatus::failed ? "failed" : "not_run");
  group.attribute("message", fit.message);
  group.attribute("ofv", fit.ofv);
  group.attribute("ofv_likelihood", fit.ofv_likelihood);
  group.attribute("ofv_prior", fit.ofv_prior);
  group.attribute("n_obs", static_cast<long>(fit.n_obs));
  group.attribute("n_blq", static_cast<long>(fit.n_blq));
  group.attribute("solver_solves", fit.solves);  // every solve for this subject, and their work summed
  group.attribute("solver_steps", fit.solver_stats.steps);
  group.attribute("solver_rhs_evaluations", fit.solver_stats.rhs_evaluations);
  group.attribute("solver_jacobian_evaluations", fit.solver_stats.jacobian_evaluations);
  group.attribute("solver_error_test_failures", fit.solver_stats.error_test_failures);
  group.attribute("solver_nonlinear_failures", fit.solver_stats.nonlinear_failures);
  group.attribute("solver_sensitivity_rhs_evaluations", fit.solver_stats.sensitivity_rhs_evaluations);
  group.attribute("solver_integrator", std::string(fit.solver_stats.steps > 0 ? integrator_used(fit.solver_stats) : "none"));
  group.attribute("solver_explicit_steps", fit.solver_stats.explicit_steps);
  group.attribute("solver_handovers", fit.solver_stats.handovers);
  if (fit.status != FitStatus::ok) return;
  group.write("names", fit.names);
  group.write("estimates", fit.estimates, "natural units of each parameter");
  group.write("se", fit.uncertainty.se, "natural units of each parameter");
  group.write("rse_percent", fit.uncertainty.rse_percent, "%");
  std::vector<long> flagged(fit.uncertainty.poorly_determined.begin(), fit.uncertainty.poorly_determined.end());
  group.write("poorly_determined", flagged);
  group.write("covariance", fit.uncertainty.covariance, "estimation scale (log/logit/identity)");
  group.write("correlation", fit.uncertainty.correlation, "-");
  group.write("hessian", fit.uncertainty.hessian, "OFV per estimation-scale unit squared");
  group.attribute("condition_number", fit.uncertainty.condition_number);
  group.attribute("information", std::string(fitting::information_name(fit.uncertainty.information)));

  const auto starts = group.subgroup("starts");
  const auto n = static_cast<Eigen::Index>(fit.names.size());
  const auto ns = static_cast<Eigen::Index>(fit.optimization.starts.size());
  Eigen::MatrixXd start(ns, n), optimum(ns, n);
  std::vector<double> ofv;
  std::vector<long> evaluations;
  std::vector<std::string> status, algorithm;
  for (Eigen::Index s = 0; s < ns; ++s) {
    const auto& r = fit.optimization.starts[static_cast<std::size_t>(s)];
    for (Eigen::Index k = 0; k < n; ++k) {
      start(s, k) = r.start[static_cast<std::size_t>(k)];
      optimum(s, k) = r.optimum[static_cast<std::size_t>(k)];
    }
    ofv.push_back(r.ofv);
    evaluations.push_back(r.evaluations);
    status.push_back(r.status);
    algorithm.push_back(r.algorithm);
  }
  starts.write("start", start, "estimation scale");
  starts.write("optimum", optimum, "estimation scale");
  starts.write("ofv", ofv, "-2 log-likelihood");
  starts.write("evaluations", evaluations);
  starts.write("status", status);
  starts.write("algorithm", algorithm);
  starts.attribute("best", static_cast<long>(fit.optimization.best));

  const auto obs = group.subgroup("observations");
  std::vector<double> time, dv, ipred, iwres, p_blq;
  std::vector<long> censored;
  std::vector<std::string> observable;
  for (std::size_t i = 0; i < subject.observations.size(); ++i) {
    const auto& o = subject.observations[i];
    time.push_back(o.time_day);
    dv.push_back(o.value);
    censored.push_back(o.censored ? 1 : 0);
    observable.emplace_back(model.observables()[static_cast<std::size_t>(o.observable)].name);
    ipred.push_back(fit.predictions[i].ipred);
    iwres.push_back(fit.predictions[i].iwres);
    p_blq.push_back(fit.predictions[i].blq_probability);
  }
  obs.write("time", time, "day");
  obs.write("observable", observable);
  obs.write("dv", dv, "unit of the observable (the LLOQ for censored records)");
  obs.write("censored", censored);
  obs.write("ipred", ipred, "unit of the observable");
  obs.write("iwres", iwres, "-");
  obs.write("blq_probability", p_blq, "-");

  if (!fit.curve_times.empty()) {
    const auto curve = group.subgroup("curve");
    curve.write("time", fit.curve_times, "day");
    for (std::size_t j = 0; j < model.n_observables(); ++j) {
      const auto col = fit.curve.col(static_cast<Eigen::Index>(j));
      curve.write(model.observables()[j].name, std::vector<double>(col.begin(), col.end()), model.observables()[j].unit);
    }
  }
  if (!fit.profiles.empty()) {
    const auto profiles = group.subgroup("profiles");
    for (const auto& p : fit.profiles) {
      const auto g = profiles.subgroup(fit.names[p.index]);
      std::vector<double> z, value, pofv;
      for (const auto& pt : p.points) {
        z.push_back(pt.z);
        value.push_back(pt.value);
        pofv.push_back(pt.ofv);
      }
      g.write("z", z, "estimation scale");
      g.write("value", value, "natural units");
      g.write("ofv", pofv, "-2 log-likelihood");
      g.attribute("threshold", p.threshold);
      g.attribute("ci95_lower", p.lower);
      g.attribute("ci95_upper", p.upper);
      g.attribute("note", p.note);
    }
  }
}
}  // namespace

void write_fit_h5(const std::filesystem::path& path, const io::RunInfo& run_info, const FitRun& run) {
  const auto& setup = *run.setup;
  const Model& model = *setup.model;
  io::H5File file(path);
  {
    const auto root = file.root();
    io::write_provenance(root, run_info, model.name());
    io::write_data_provenance(root, run.data_path);
    const auto fit = root.subgroup("fit");
    fit.attribute("method", setup.method);
    fit.attribute("objective", std::string("OFV = -2 log-likelihood including 2*pi terms (lognormal: on ln DV)"));
    fit.attribute("prior_terms", run.prior_description);
    fit.attribute("interrupted", static_cast<long>(run.interrupted ? 1 : 0));
    fit.attribute("fit_seconds", run.fit_seconds);
    fit.attribute("ci_calibration", run.ci_calibration);
    fit.attribute("rtol", setup.solver_options.rtol);
    fit.attribute("atol_scale", setup.solver_options.atol_scale);
    fit.attribute("max_steps", setup.solver_options.max_steps);
    fit.attribute("integrator", std::string(integrator_name(setup.solver_options.integrator)));
    long failed = 0;
    for (const auto& f : *run.fits) failed += f.status != FitStatus::ok;
    fit.attribute("n_subjects", static_cast<long>(run.fits->size()));
    fit.attribute("n_not_ok", failed);
    std::vector<std::string> est, fixed_names, transforms;
    std::vector<double> fixed_values;
    for (int i : setup.estimated) est.emplace_back(model.parameters()[static_cast<std::size_t>(i)].name);
    for (std::size_t i = 0; i < model.n_parameters(); ++i)
      if (std::find(setup.estimated.begin(), setup.estimated.end(), static_cast<int>(i)) == setup.estimated.end()) {
        fixed_names.emplace_back(model.parameters()[i].name);
        fixed_values.push_back(setup.parameters[i]);
      }
    for (std::size_t k = 0; k < setup.estimated.size(); ++k) {
      const auto& spec = model.parameters()[static_cast<std::size_t>(setup.estimated[k])];
      transforms.emplace_back(fitting::transform_name(fitting::transform_for(spec.domain, setup.lower[k])));
    }
    const auto params = fit.subgroup("parameters");
    params.write("estimated", est);
    params.write("transform", transforms);
    params.write("lower", setup.lower, "natural units");
    params.write("upper", setup.upper, "natural units");
    params.write("start", [&] {
      std::vector<double> v;
      for (int i : setup.estimated) v.push_back(setup.parameters[static_cast<std::size_t>(i)]);
      return v;
    }(), "natural units");
    params.write("fixed", fixed_names);
    params.write("fixed_values", fixed_values, "natural units");
    std::vector<std::string> estimated_units, fixed_units;
    for (int i : setup.estimated) estimated_units.emplace_back(model.parameters()[static_cast<std::size_t>(i)].unit);
    for (const auto& name : fixed_names)
      fixed_units.emplace_back(model.parameters()[static_cast<std::size_t>(model.parameter_index(name))].unit);
    params.write("estimated_units", estimated_units);
    params.write("fixed_units", fixed_units);
    const auto errors = fit.subgroup("error_models");  // per observable: type, start values, estimated or fixed
    std::vector<std::string> observables, types;
    std::vector<double> a, b;
    std::vector<long> estimated_errors;
    for (std::size_t j = 0; j < model.n_observables(); ++j) {
      const auto& em = setup.error_models[j];
      observables.emplace_back(model.observables()[j].name);
      types.push_back(fitting::error_type_name(em.type));
      a.push_back(em.a);
      b.push_back(em.b);
      estimated_errors.push_back(em.estimated ? 1 : 0);
    }
    errors.write("observable", observables);
    errors.write("type", types);
    errors.write("a", a, "additive SD (additive, combined) or log-scale SD (lognormal); the start when estimated");
    errors.write("b", b, "proportional SD (proportional, combined); the start when estimated");
    errors.write("estimated", estimated_errors);
    const auto subjects = fit.subgroup("subjects");
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < run.fits->size(); ++i) {
      ids.push_back((*run.fits)[i].id);
      write_subject(subjects.subgroup(group_name((*run.fits)[i].id, i)), setup, (*run.subjects)[i], (*run.fits)[i]);
    }
    fit.write("subject_ids", ids);
  }
  file.close();
}

void write_fit_table(const std::filesystem::path& path, const FitRun& run) {
  const auto names = all_names(run);
  std::vector<io::CsvColumn> columns;
  io::CsvColumn id{"ID", {}, {}};
  for (const auto& f : *run.fits) id.text.push_back(f.id);
  columns.push_back(id);
  for (const auto& name : names) {
    io::CsvColumn c{name, {}, {}};
    for (const auto& f : *run.fits) c.values.push_back(value_of(f, name, f.estimates));
    columns.push_back(c);
  }
  io::CsvColumn ofv{"ofv", {}, {}}, n_obs{"n_obs", {}, {}}, n_blq{"n_blq", {}, {}}, status{"status", {}, {}};
  for (const auto& f : *run.fits) {
    ofv.values.push_back(f.ofv);
    n_obs.values.push_back(static_cast<double>(f.n_obs));
    n_blq.values.push_back(static_cast<double>(f.n_blq));
    status.text.push_back(status_text(f));
  }
  columns.push_back(ofv);
  columns.push_back(n_obs);
  columns.push_back(n_blq);
  columns.push_back(status);
  for (const auto& name : names) {
    io::CsvColumn c{"se_" + name, {}, {}};
    for (const auto& f : *run.fits) c.values.push_back(value_of(f, name, f.uncertainty.se));
    columns.push_back(c);
  }
  // What a report table needs beside them: RSE, profile CIs, the OFV's parts, information criteria, status code.
  for (const auto& name : names) {
    io::CsvColumn c{"rse_percent_" + name, {}, {}};
    for (const auto& f : *run.fits) c.values.push_back(value_of(f, name, f.uncertainty.rse_percent));
    columns.push_back(c);
  }
  for (const auto& name : names) {
    io::CsvColumn lower{"ci95_lower_" + name, {}, {}}, upper{"ci95_upper_" + name, {}, {}};
    bool any = false;
    for (const auto& f : *run.fits) {
      double lo = std::nan(""), hi = std::nan("");
      for (const auto& p : f.profiles)
        if (p.index < f.names.size() && f.names[p.index] == name) {
          lo = p.lower;
          hi = p.upper;
          any = true;
        }
      lower.values.push_back(lo);
      upper.values.push_back(hi);
    }
    if (!any) continue;  // profiled estimates only
    columns.push_back(lower);
    columns.push_back(upper);
  }
  io::CsvColumn likelihood{"ofv_likelihood", {}, {}}, prior{"ofv_prior", {}, {}}, dv{"ofv_dv_scale", {}, {}},
      k{"n_estimated", {}, {}}, aic{"aic", {}, {}}, bic{"bic", {}, {}}, condition{"condition_number", {}, {}},
      code{"status_code", {}, {}};
  for (std::size_t i = 0; i < run.fits->size(); ++i) {
    const auto& f = (*run.fits)[i];
    const auto summary = fitting::report(*run.setup, (*run.subjects)[i], f);
    likelihood.values.push_back(f.ofv_likelihood);
    prior.values.push_back(f.ofv_prior);
    dv.values.push_back(summary.ofv_dv_scale);
    k.values.push_back(static_cast<double>(summary.n_estimated));
    aic.values.push_back(summary.aic);
    bic.values.push_back(summary.bic);
    condition.values.push_back(f.uncertainty.condition_number);
    code.text.push_back(summary.status_code);
  }
  for (auto* c : {&likelihood, &prior, &dv, &k, &aic, &bic, &condition, &code}) columns.push_back(*c);
  io::write_csv(path, columns);
}

void print_fit_table(const FitRun& run) {
  const auto names = all_names(run);
  std::printf("%-8s", "ID");
  for (const auto& n : names) std::printf(" %12.12s", n.c_str());
  std::printf(" %12s %6s %6s  %s\n", "ofv", "n_obs", "n_blq", "status");
  for (const auto& f : *run.fits) {
    std::printf("%-8.8s", f.id.c_str());
    for (const auto& n : names) {
      const double v = value_of(f, n, f.estimates);
      if (std::isnan(v)) std::printf(" %12s", ".");  // not estimated for this subject (no such records)
      else std::printf(" %12.5g", v);
    }
    std::printf(" %12.6g %6zu %6zu  %s\n", f.ofv, f.n_obs, f.n_blq, status_text(f).c_str());
  }
}

}  // namespace cartpk::cli
