#include "fitting/subject_fit.hpp"

#include <algorithm>
#include <cstdint>

#include "pkmodel/cohort.hpp"
#include "pkmodel/errors.hpp"

namespace cartpk::fitting {

void validate_subjects(const FitSetup& setup, const std::vector<Subject>& subjects, const std::string& source) {
  const Model& model = *setup.model;
  const auto at = [&source](int line) { return source + ":" + std::to_string(line) + ": "; };
  for (const auto& s : subjects) {
    for (const auto& o : s.observations)
      if (setup.error_models[static_cast<std::size_t>(o.observable)].type == ErrorType::lognormal && o.value <= 0.0)
        throw InputError(at(o.line) + "column DV: found '" + number_text(o.value) + "', expected a value > 0 for the " +
                         "log-normal error model of " + std::string(model.observables()[static_cast<std::size_t>(o.observable)].name));
    if (!model.accepts_doses()) continue;
    if (s.doses.empty())
      throw InputError(at(s.first_line) + "subject " + s.id + " has no dose record (expected an EVID = 1 row: model " +
                       std::string(model.name()) + " needs one)");
    for (const auto& d : s.doses)
      if (!(d.dose.weight_kg > 0.0))
        throw InputError(at(d.line) + "column WT: found '" + (std::isnan(d.dose.weight_kg) ? std::string(".") : number_text(d.dose.weight_kg)) +
                         "' on a dose of subject " + s.id + " in cells (expected the body weight > 0 kg)");
    const auto& first = s.doses.front();
    for (const auto& o : s.observations)
      if (o.time_day < first.dose.time_day)
        throw InputError(at(o.line) + "column TIME: found '" + number_text(o.time_day) + "', before subject " + s.id +
                         "'s first dose at TIME " + number_text(first.dose.time_day) + " (line " + std::to_string(first.line) +
                         "; expected observations from the first dose on)");
  }
}

CiCalibration chosen_calibration(const FitSetup& setup, const FitOptions& options) {
  bool error_estimated = false;
  for (const auto& em : setup.error_models) error_estimated = error_estimated || em.estimated;
  return options.ci_calibration.value_or(error_estimated ? CiCalibration::f_small_sample : CiCalibration::chi_square);
}

SubjectFit fit_subject(const FitSetup& setup, const Subject& subject, Solver& solver, const FitOptions& options) {
  SubjectFit fit;
  fit.id = subject.id;
  try {
    SubjectObjective objective(setup, subject, solver);
    struct Tally {  // the solver's work, recorded however this block is left (return, failure)
      SubjectFit& fit;
      const SubjectObjective& objective;
      ~Tally() {
        fit.solves = objective.solves();
        fit.solver_stats = objective.solver_totals();
      }
    } tally{fit, objective};
    fit.names = objective.names();
    fit.n_obs = objective.n_observations();
    fit.n_blq = objective.n_censored();
    const Problem problem = objective.problem();
    auto optimizer = options.optimizer;
    // Per subject, from its ID: the same starts whatever the thread count or the subjects fitted with it.
    std::uint64_t id_hash = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : subject.id) id_hash = (id_hash ^ c) * 1099511628211ull;
    optimizer.seed = options.optimizer.seed + id_hash;
    if (optimizer.max_evaluations == 0) {  // evaluate only (NONMEM's MAXEVAL=0): the OFV at the initial values
      StartResult at_start;
      at_start.start = at_start.optimum = objective.initial_point();
      at_start.ofv = objective.ofv(at_start.start, nullptr);
      at_start.evaluations = 1;
      at_start.algorithm = "none";
      at_start.status = "ok: evaluated at the initial values";
      at_start.ok = true;
      fit.optimization.starts.push_back(at_start);
      fit.optimization.best = 0;
    } else {
      fit.optimization = multistart(problem, objective.initial_point(), optimizer);
    }
    if (fit.optimization.best < 0) {
      fit.status = FitStatus::failed;
      fit.message = "every start failed; first: " + fit.optimization.starts.front().status;
      return fit;
    }
    auto z = fit.optimization.starts[static_cast<std::size_t>(fit.optimization.best)].optimum;
    fit.ofv = objective.ofv(z, nullptr);
    if (const auto canonical = objective.canonical_point(z)) {  // e.g. relabel a swapped biexponential
      const double relabelled = objective.ofv(*canonical, nullptr);
      if (std::abs(relabelled - fit.ofv) <= 1e-8 * (1.0 + std::abs(fit.ofv))) {
        z = *canonical;
        fit.ofv = relabelled;
      } else {
        fit.ofv = objective.ofv(z, nullptr);  // the objective's parts (likelihood, prior) at z again
      }
    }
    fit.ofv_likelihood = objective.last_likelihood_ofv();
    fit.ofv_prior = objective.last_prior_ofv();
    fit.estimates = objective.natural(z);
    fit.status = FitStatus::ok;
    fit.message = "ok";
    if (options.uncertainty && !z.empty()) {
      const auto hessian = options.information == Information::expected ? objective.expected_information(z)
                                                                         : observed_hessian(problem, z);
      fit.uncertainty = uncertainty_from(options.information, hessian, problem, z, fit.estimates,
                                         objective.natural_derivative(z));
      std::string poor;
      for (std::size_t k = 0; k < fit.names.size(); ++k)
        if (fit.uncertainty.poorly_determined[k]) poor += (poor.empty() ? "" : ", ") + fit.names[k];
      if (!poor.empty())
        fit.message = "ok; poorly determined: " + poor + " (RSE > 100 %, at a bound" +
                      (fit.uncertainty.note.empty() ? "" : " or " + fit.uncertainty.note) + ")";
    }
    const double threshold = profile_threshold(chosen_calibration(setup, options), fit.n_obs, fit.names.size());
    for (int parameter : options.profile) {
      const auto it = std::find(setup.estimated.begin(), setup.estimated.end(), parameter);
      const auto k = static_cast<std::size_t>(it - setup.estimated.begin());
      const double se_z = fit.uncertainty.covariance.size() > 0
                              ? std::sqrt(std::max(0.0, fit.uncertainty.covariance(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(k))))
                              : std::nan("");
      auto to_natural = [&objective, &z, k](double zk) {
        auto zz = z;
        zz[k] = zk;
        return objective.natural(zz)[k];
      };
      fit.profiles.push_back(profile_likelihood(problem, z, fit.ofv, k, se_z, to_natural, optimizer, threshold));
    }
    fit.predictions = objective.predictions(z);
    double t_last = 0.0;
    for (const auto& o : subject.observations) t_last = std::max(t_last, o.time_day);
    for (int i = 0; i < options.curve_points; ++i)
      fit.curve_times.push_back(1.1 * t_last * i / std::max(1, options.curve_points - 1));
    if (!fit.curve_times.empty()) fit.curve = objective.curve(z, fit.curve_times);
  } catch (const SolverError& e) {
    fit.status = FitStatus::failed;
    fit.message = std::string("solver failure: ") + e.what();
  } catch (const InputError& e) {
    fit.status = FitStatus::failed;
    fit.message = std::string("invalid subject: ") + e.what();
  } catch (const std::exception& e) {  // never let one subject take the cohort down
    fit.status = FitStatus::failed;
    fit.message = std::string("internal error: ") + e.what();
  }
  return fit;
}

std::vector<SubjectFit> fit_cohort(const FitSetup& setup, const std::vector<Subject>& subjects,
                                   const FitOptions& options, int threads, const FitProgress& progress,
                                   const std::atomic<bool>* cancel) {
  std::vector<SubjectFit> fits(subjects.size());
  for (std::size_t i = 0; i < subjects.size(); ++i) fits[i].id = subjects[i].id;
  std::size_t done = 0;
  run_cohort(
      all_items(subjects.size()), {threads, cancel},
      [&] { return make_solver(*setup.model, setup.method, setup.solver_options); },  // one workspace per thread
      [&](std::unique_ptr<Solver>& solver, std::size_t i) { return fit_subject(setup, subjects[i], *solver, options); },
      [&](std::size_t i, SubjectFit&& fit) {
        fits[i] = std::move(fit);
        ++done;
        if (progress) progress(fits[i], done, subjects.size());
      },
      [](std::unique_ptr<Solver>&) {});
  return fits;
}

}  // namespace cartpk::fitting
