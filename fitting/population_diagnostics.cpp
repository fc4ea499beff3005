// Standard errors by the linearised Fisher information, and CWRES, at a population fit's final estimates.
#include <cmath>

#include "fitting/population_detail.hpp"

namespace cartpk::fitting::detail {

namespace {
// dR/dθ of a record for error parameter `which` (natural scale), at prediction f.
double variance_derivative(const ErrorModel& error, int which, double f) {
  const bool is_b = error.type == ErrorType::proportional || (error.type == ErrorType::combined && which == 1);
  return is_b ? 2.0 * error.b * f * f : 2.0 * error.a;
}
}  // namespace

LinearisedCovariance linearised_covariance(const PopulationContext& context, const PopulationEstimates& e,
                                           const std::vector<InnerSolution>& solutions) {
  const Eigen::Index n_phi = context.n_phi(), n_beta = e.beta.size(), n_eta = context.n_eta();
  const bool full = context.setup().omega_full;
  std::vector<std::pair<Eigen::Index, Eigen::Index>> omega_entries;
  for (Eigen::Index a = 0; a < n_eta; ++a)
    for (Eigen::Index b = full ? 0 : a; b <= a; ++b) omega_entries.emplace_back(a, b);
  const auto& slots = context.error_slots();
  const Eigen::Index n_mean = n_phi + n_beta;
  const Eigen::Index n_var = static_cast<Eigen::Index>(omega_entries.size() + slots.size());
  Eigen::MatrixXd information = Eigen::MatrixXd::Zero(n_mean + n_var, n_mean + n_var);
  const auto& pos = context.eta_positions();

  for (std::size_t i = 0; i < solutions.size(); ++i) {
    const auto& s = solutions[i];
    if (!s.ok) continue;
    std::vector<const RecordTerms*> rec;
    std::vector<std::size_t> rec_index;
    for (std::size_t r = 0; r < s.records.size(); ++r)
      if (!s.records[r].censored) {
        rec.push_back(&s.records[r]);
        rec_index.push_back(r);
      }
    const auto n_obs = static_cast<Eigen::Index>(rec.size());
    if (n_obs == 0) continue;
    Eigen::MatrixXd g(n_obs, n_phi), g_eta(n_obs, n_eta);
    Eigen::VectorXd r_var(n_obs);
    for (Eigen::Index r = 0; r < n_obs; ++r) {
      g.row(r) = rec[static_cast<std::size_t>(r)]->dg.transpose();
      for (Eigen::Index k = 0; k < n_eta; ++k) g_eta(r, k) = g(r, pos[static_cast<std::size_t>(k)]);
      r_var(r) = rec[static_cast<std::size_t>(r)]->variance;
    }
    Eigen::MatrixXd v = g_eta * e.omega * g_eta.transpose();
    v.diagonal() += r_var;
    const Eigen::LDLT<Eigen::MatrixXd> v_ldlt(v);
    // Mean derivatives: μ → G, β → G·C_i.
    Eigen::MatrixXd dm(n_obs, n_mean);
    dm << g, g * context.design(i);
    information.topLeftCorner(n_mean, n_mean) += dm.transpose() * v_ldlt.solve(dm);
    // Variance derivatives: Ω entries and error parameters; the Gaussian information ½ tr(V⁻¹V_a V⁻¹V_b).
    std::vector<Eigen::MatrixXd> vinv_dv;
    for (const auto& [a, b] : omega_entries) {
      Eigen::MatrixXd dv = g_eta.col(a) * g_eta.col(b).transpose();
      if (a != b) dv += g_eta.col(b) * g_eta.col(a).transpose();
      vinv_dv.push_back(v_ldlt.solve(dv));
    }
    for (const auto& slot : slots) {
      Eigen::VectorXd d = Eigen::VectorXd::Zero(n_obs);
      const auto& error = e.errors[slot.observable];
      for (Eigen::Index r = 0; r < n_obs; ++r) {
        const auto& obs = context.subjects()[i].observations[rec_index[static_cast<std::size_t>(r)]];
        if (static_cast<std::size_t>(obs.observable) == slot.observable)
          d(r) = error.type == ErrorType::lognormal ? 2.0 * error.a
                                                     : variance_derivative(error, slot.which, rec[static_cast<std::size_t>(r)]->f);
      }
      vinv_dv.push_back(v_ldlt.solve(Eigen::MatrixXd(d.asDiagonal())));
    }
    for (Eigen::Index a = 0; a < n_var; ++a)
      for (Eigen::Index b = 0; b <= a; ++b) {
        const double value = 0.5 * (vinv_dv[static_cast<std::size_t>(a)].cwiseProduct(vinv_dv[static_cast<std::size_t>(b)].transpose())).sum();
        information(n_mean + a, n_mean + b) += value;
        if (a != b) information(n_mean + b, n_mean + a) += value;
      }
  }
  LinearisedCovariance out;
  const Eigen::LLT<Eigen::MatrixXd> llt(information);
  if (llt.info() != Eigen::Success) {
    out.status = "information matrix not positive definite (a parameter is not identifiable from these data)";
    return out;
  }
  out.covariance = llt.solve(Eigen::MatrixXd::Identity(information.rows(), information.cols()));
  return out;
}

std::vector<double> conditional_weighted_residuals(const PopulationContext& context, const InnerSolution& s,
                                                   const Eigen::MatrixXd& omega) {
  std::vector<double> out(s.records.size(), std::nan(""));
  std::vector<std::size_t> uncensored;
  for (std::size_t r = 0; r < s.records.size(); ++r)
    if (!s.records[r].censored) uncensored.push_back(r);
  const auto n_obs = static_cast<Eigen::Index>(uncensored.size());
  if (!s.ok || n_obs == 0) return out;
  const Eigen::Index n_eta = context.n_eta();
  Eigen::MatrixXd g_eta(n_obs, n_eta);
  Eigen::VectorXd residual(n_obs);
  Eigen::MatrixXd v = Eigen::MatrixXd::Zero(n_obs, n_obs);
  for (Eigen::Index r = 0; r < n_obs; ++r) {
    const auto& rec = s.records[uncensored[static_cast<std::size_t>(r)]];
    g_eta.row(r) = context.eta_part(rec.dg).transpose();
    v(r, r) = rec.variance;
    residual(r) = rec.y - rec.g;
  }
  residual += g_eta * s.eta;  // y − (g(η̂) − G·η̂): the residual from the linearised population prediction
  v += g_eta * omega * g_eta.transpose();
  const Eigen::LLT<Eigen::MatrixXd> llt(v);
  if (llt.info() != Eigen::Success) return out;
  const Eigen::VectorXd cwres = llt.matrixL().solve(residual);
  for (Eigen::Index r = 0; r < n_obs; ++r) out[uncensored[static_cast<std::size_t>(r)]] = cwres(r);
  return out;
}

}  // namespace cartpk::fitting::detail
