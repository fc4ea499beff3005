// FOCE-I: the population −2LL by the first-order conditional approximation with interaction (Laplace with the
// expected-information Hessian), summed over subjects, minimised over the population parameters by BOBYQA (as
// nlmixr2's default outer optimiser). Ω is parameterised by its log-Cholesky factor, so every point is a valid Ω.
#include <cmath>
#include <limits>

#include "fitting/focei.hpp"
#include "fitting/optimizer.hpp"
#include "fitting/transforms.hpp"

namespace cartpk::fitting::detail {

namespace {
constexpr double kInfeasible = 1e300;
}

PsiLayout::PsiLayout(const PopulationContext& context)
    : n_phi(context.n_phi()), n_beta(static_cast<Eigen::Index>(context.setup().effects.size())), n_eta(context.n_eta()),
      full(context.setup().omega_full), slots(context.error_slots()) {}

Eigen::Index PsiLayout::size() const {
  const Eigen::Index n_omega = full ? n_eta * (n_eta + 1) / 2 : n_eta;
  return n_phi + n_beta + n_omega + static_cast<Eigen::Index>(slots.size());
}

Eigen::VectorXd PsiLayout::pack(const PopulationEstimates& e) const {
  Eigen::VectorXd psi(size());
  Eigen::Index k = 0;
  for (Eigen::Index i = 0; i < n_phi; ++i) psi(k++) = e.mu(i);
  for (Eigen::Index i = 0; i < n_beta; ++i) psi(k++) = e.beta(i);
  const Eigen::MatrixXd l = e.omega.llt().matrixL();
  for (Eigen::Index i = 0; i < n_eta; ++i) {
    psi(k++) = full ? std::log(l(i, i)) : std::log(e.omega(i, i));
    if (full)
      for (Eigen::Index j = 0; j < i; ++j) psi(k++) = l(i, j);
  }
  for (const auto& s : slots)
    psi(k++) = std::log(e.errors[s.observable].parameter_values()[static_cast<std::size_t>(s.which)]);
  return psi;
}

PopulationEstimates PsiLayout::unpack(const Eigen::VectorXd& psi, const PopulationEstimates& like) const {
  PopulationEstimates e = like;
  Eigen::Index k = 0;
  for (Eigen::Index i = 0; i < n_phi; ++i) e.mu(i) = psi(k++);
  for (Eigen::Index i = 0; i < n_beta; ++i) e.beta(i) = psi(k++);
  Eigen::MatrixXd l = Eigen::MatrixXd::Zero(n_eta, n_eta);
  for (Eigen::Index i = 0; i < n_eta; ++i) {
    if (full) {
      l(i, i) = std::exp(psi(k++));
      for (Eigen::Index j = 0; j < i; ++j) l(i, j) = psi(k++);
    } else {
      l(i, i) = std::exp(0.5 * psi(k++));
    }
  }
  e.omega = l * l.transpose();
  for (const auto& s : slots) e.errors[s.observable].set_parameter(s.which, std::exp(psi(k++)));
  return e;
}

std::pair<std::vector<double>, std::vector<double>> PsiLayout::bounds(const PopulationSetup& setup) const {
  std::vector<double> lo, hi;
  const Model& model = *setup.base.model;
  for (Eigen::Index i = 0; i < n_phi; ++i) {
    const auto k = static_cast<std::size_t>(i);
    const auto t = transform_for(model.parameters()[static_cast<std::size_t>(setup.base.estimated[k])].domain, setup.base.lower[k]);
    lo.push_back(to_unconstrained(t, setup.base.lower[k]));
    hi.push_back(to_unconstrained(t, setup.base.upper[k]));
  }
  for (Eigen::Index i = 0; i < n_beta; ++i) {
    lo.push_back(-10.0);
    hi.push_back(10.0);
  }
  for (Eigen::Index i = 0; i < n_eta; ++i) {
    lo.push_back(full ? 0.5 * std::log(1e-6) : std::log(1e-6));  // ω² from 1e-6 to 100
    hi.push_back(full ? 0.5 * std::log(100.0) : std::log(100.0));
    if (full)
      for (Eigen::Index j = 0; j < i; ++j) {
        lo.push_back(-10.0);
        hi.push_back(10.0);
      }
  }
  for (const auto& s : slots) {
    const auto [l, h] = error_bounds(setup.base.error_models[s.observable].type, s.which);
    lo.push_back(l);
    hi.push_back(h);
  }
  return {lo, hi};
}

FoceiTerms focei_terms(const PopulationContext& context, const PopulationEstimates& e, std::vector<Eigen::VectorXd>& etas,
                       int search_draws, bool with_records) {
  const OmegaFactors omega(e.omega);
  etas.resize(context.n_subjects());
  auto solutions = context.map([&](IndividualModel& model, std::size_t i) {
    return solve_inner(context, model, context.mean_phi(i, e), omega, e.errors,
                       inner_starts(etas[i], e.omega, search_draws, i), with_records);
  });
  FoceiTerms out;
  for (std::size_t i = 0; i < solutions.size(); ++i) {
    if (!solutions[i].ok) {
      out.failed.push_back(i);
      continue;
    }
    etas[i] = solutions[i].eta;
    out.minus2ll += solutions[i].focei;
  }
  out.solutions = std::move(solutions);
  return out;
}

void run_focei(const PopulationContext& context, PopulationEstimates& estimates, const PopulationOptions& options,
               const PopulationProgress& progress, PopulationFitResult& result, std::vector<Eigen::VectorXd>& etas) {
  constexpr int kMaxPasses = 5;
  const PsiLayout layout(context);
  const auto [lo, hi] = layout.bounds(context.setup());
  Eigen::VectorXd best_psi = layout.pack(estimates);
  for (Eigen::Index k = 0; k < best_psi.size(); ++k)
    best_psi(k) = std::clamp(best_psi(k), lo[static_cast<std::size_t>(k)], hi[static_cast<std::size_t>(k)]);
  // Every evaluation warm-starts the inner problems from the modes at the best point so far, so the objective the
  // optimiser sees does not depend on the order it probes points in.
  std::vector<Eigen::VectorXd> best_etas;
  double best = std::numeric_limits<double>::infinity();
  int evaluations = 0, search_draws = kThoroughSearch;
  const auto evaluate = [&](const Eigen::VectorXd& psi) {
    const auto e = layout.unpack(psi, estimates);
    auto modes = best_etas;
    const auto terms = focei_terms(context, e, modes, search_draws, false);
    const double value = terms.failed.empty() ? terms.minus2ll : kInfeasible;
    ++evaluations;
    if (value < best) {
      best = value;
      best_psi = psi;
      best_etas = std::move(modes);
      PopulationIteration it{evaluations, "focei", value, e.mu};
      result.trace.push_back(it);
      if (progress) progress(it);
    }
    return value;
  };
  Problem problem;
  problem.lower = lo;
  problem.upper = hi;
  problem.f = [&](const std::vector<double>& z, std::vector<double>*) {
    if (context.stop_requested(options.cancel)) {  // SIGINT: the optimiser runs out on cached values
      result.interrupted = true;
      return best;
    }
    return evaluate(Eigen::Map<const Eigen::VectorXd>(z.data(), static_cast<Eigen::Index>(z.size())));
  };
  OptimizerOptions optimizer;
  optimizer.max_evaluations = options.focei_max_evaluations;
  // BOBYQA stops when its trust region has shrunk to 1e-4 of ψ (tighter than NONMEM's 3 significant digits), not
  // on one step's small gain: a model step can gain little far from the optimum, and an ftol stop there ended a
  // fit 0.04 above its optimum.
  optimizer.ftol_abs = 0.0;
  optimizer.xtol_rel = 1e-4;
  // Passes of BOBYQA, each after a thorough search for every subject's best mode at the best point: a mode found
  // there can lower the objective the previous pass converged on (events crossing sampling times move the modes).
  for (int pass = 0; pass < kMaxPasses && !result.interrupted; ++pass) {
    const double before = best;
    search_draws = pass == 0 ? kThoroughSearch : kThoroughSearch / 4;
    best = std::numeric_limits<double>::infinity();  // the re-searched value at the best point is the new reference
    evaluate(best_psi);
    search_draws = 0;
    // No subject found a better mode at the optimum: the objective is the one the last pass converged on.
    if (pass > 0 && best > before - 10.0 * options.focei_ftol_abs) break;
    minimise_derivative_free(problem, std::vector<double>(best_psi.data(), best_psi.data() + best_psi.size()), optimizer);
    if (pass > 0 && before - best < 10.0 * options.focei_ftol_abs) break;
  }
  estimates = layout.unpack(best_psi, estimates);
  etas = best_etas;
}

}  // namespace cartpk::fitting::detail
