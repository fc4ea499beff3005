#include "fitting/fit_report.hpp"

#include <algorithm>
#include <cmath>

namespace cartpk::fitting {

FitReport report(const FitSetup& setup, const Subject& subject, const SubjectFit& fit) {
  FitReport r;
  r.detail = fit.message;
  if (fit.status == FitStatus::failed) r.status_code = "failed";
  if (fit.status == FitStatus::not_run) r.status_code = "not_run";
  if (fit.status != FitStatus::ok) return r;
  r.n_estimated = fit.names.size();
  double jacobian = 0.0;  // 2·Σ ln DV over quantified log-normal records
  for (const auto& o : subject.observations)
    if (!o.censored && setup.error_models[static_cast<std::size_t>(o.observable)].type == ErrorType::lognormal)
      jacobian += 2.0 * std::log(o.value);
  r.ofv_dv_scale = fit.ofv_likelihood + jacobian;
  const auto k = static_cast<double>(r.n_estimated), n = static_cast<double>(fit.n_obs);
  r.aic = r.ofv_dv_scale + 2.0 * k;
  r.bic = r.ofv_dv_scale + k * std::log(n);
  bool at_bound = false;
  for (std::size_t e = 0; e < setup.estimated.size() && e < fit.estimates.size(); ++e) {
    // Within 1e-6 of a bound, relative to the bound (bounds of positive parameters span decades).
    const double v = fit.estimates[e], lo = setup.lower[e], hi = setup.upper[e];
    const double near_lo = lo != 0.0 ? 1e-6 * std::abs(lo) : 1e-9 * (hi - lo);
    const double near_hi = hi != 0.0 ? 1e-6 * std::abs(hi) : 1e-9 * (hi - lo);
    at_bound = at_bound || v - lo <= near_lo || hi - v <= near_hi;
  }
  const bool poorly = std::any_of(fit.uncertainty.poorly_determined.begin(), fit.uncertainty.poorly_determined.end(),
                                  [](bool b) { return b; });
  r.status_code = at_bound ? "at_bound" : poorly ? "poorly_determined" : "ok";
  return r;
}

}  // namespace cartpk::fitting
