// The replicates behind pd and npde: each subject's observed design simulated K times from the fitted population
// on the fit's per-thread solvers (PopulationContext::map), then fitting/npde.cpp's statistics per subject.
#include <cmath>

#include "fitting/npde.hpp"
#include "fitting/population_detail.hpp"
#include "fitting/vpc.hpp"

namespace cartpk::fitting {

// Codec of a subject's result between MPI ranks; here (not anonymous) so that map() finds it by argument lookup.
void encode(ByteWriter& out, const SubjectDiscrepancies& d) {
  out.put_vector(d.pd);
  out.put_vector(d.npde);
  out.put(d.failed_simulations);
  out.put(d.decorrelated);
}
void decode(ByteReader& in, SubjectDiscrepancies& d) {
  d.pd = in.get_vector<double>();
  d.npde = in.get_vector<double>();
  d.failed_simulations = in.get<int>();
  d.decorrelated = in.get<bool>();
}

namespace {

// A value on the residual's scale (ln for a log-normal error), the one where pd and npde are computed.
double residual_scale(const ErrorModel& error, double value) {
  return error.type == ErrorType::lognormal ? std::log(value) : value;
}

SubjectDiscrepancies simulate_subject(const detail::PopulationContext& context, IndividualModel& model, std::size_t i,
                                      const PopulationEstimates& e, const Eigen::MatrixXd& omega_factor,
                                      const std::vector<double>& lloq, int samples, std::uint64_t seed) {
  const auto& observations = model.subject().observations;
  const auto n = static_cast<Eigen::Index>(observations.size());
  Eigen::VectorXd observed(n), limit(n);
  std::vector<char> censored;
  for (Eigen::Index j = 0; j < n; ++j) {
    const auto& o = observations[static_cast<std::size_t>(j)];
    const auto& error = e.errors[static_cast<std::size_t>(o.observable)];
    observed(j) = residual_scale(error, o.value);
    limit(j) = residual_scale(error, lloq[static_cast<std::size_t>(j)]);  // NaN (no LLOQ) stays NaN
    censored.push_back(o.censored ? 1 : 0);
  }
  const Eigen::VectorXd mean = context.mean_phi(i, e);
  Eigen::MatrixXd simulated(samples, n);
  Eigen::VectorXd z(omega_factor.rows());
  Eigen::Index rows = 0;
  int failed = 0;
  for (int k = 0; k < samples; ++k) {
    PatientRng rng(seed, i, kNpdeStream + static_cast<std::uint64_t>(k));
    for (Eigen::Index a = 0; a < z.size(); ++a) z(a) = rng.normal();
    const auto f = model.predictions(context.phi(mean, omega_factor * z));
    bool ok = true;
    for (Eigen::Index j = 0; j < n && ok; ++j) {
      const auto& o = observations[static_cast<std::size_t>(j)];
      const auto terms = record_terms(e.errors[static_cast<std::size_t>(o.observable)], o, f[static_cast<std::size_t>(j)], nullptr, 0);
      simulated(rows, j) = terms.g + std::sqrt(terms.variance) * rng.normal();  // ε on the residual's scale
      ok = std::isfinite(simulated(rows, j));
    }
    if (ok) ++rows;
    else ++failed;  // the model rejected this η or failed to solve: the replicate is left out
  }
  PatientRng imputation(seed, i, kNpdeImputationStream);
  auto out = discrepancies_from_simulations(observed, censored, limit, simulated.topRows(rows), imputation);
  out.failed_simulations = failed;
  return out;
}

}  // namespace

namespace detail {
std::vector<SubjectDiscrepancies> prediction_discrepancies(const PopulationContext& context,
                                                          const PopulationEstimates& estimates, int samples,
                                                          std::uint64_t seed) {
  const Eigen::MatrixXd omega_factor = Eigen::LLT<Eigen::MatrixXd>(estimates.omega).matrixL();
  const auto lloq = record_lloqs(context.subjects(), context.setup().base.model->n_observables());
  return context.map([&](IndividualModel& model, std::size_t i) {
    return simulate_subject(context, model, i, estimates, omega_factor, lloq[i], samples, seed);
  });
}
}  // namespace detail

std::vector<SubjectDiscrepancies> prediction_discrepancies(const PopulationSetup& setup,
                                                          const std::vector<Subject>& subjects,
                                                          const PopulationEstimates& estimates,
                                                          const NpdeOptions& options) {
  const detail::PopulationContext context(setup, subjects, options.threads);
  return detail::prediction_discrepancies(context, estimates, options.samples, options.seed);
}

}  // namespace cartpk::fitting
