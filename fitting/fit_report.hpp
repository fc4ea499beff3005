#pragma once
// What a report table needs from one subject's fit beyond the estimates: information criteria, the OFV on the
// scale of DV, and a status code with its detail.
//
// The log-normal error model's likelihood is that of ln(DV) (as NONMEM's log-transform-both-sides), so its OFV
// omits the Jacobian term 2·Σ ln(DV) over the quantified log-normal records. ofv_dv_scale adds it back: the −2
// log-likelihood of DV itself, which compares across error models (additive, proportional, log-normal) for the same
// data. Censored records (M3) contribute P(DV < LLOQ), the same on either scale.
//   AIC = ofv_dv_scale + 2k,  BIC = ofv_dv_scale + k·ln(n),  k = estimated parameters (kinetic and error),
//   n = records (quantified and censored). Both use the likelihood part only (a MAP fit's prior term is excluded).
#include <string>

#include "fitting/objective.hpp"
#include "fitting/subject_fit.hpp"

namespace cartpk::fitting {

struct FitReport {
  std::size_t n_estimated = 0;
  double ofv_dv_scale = std::nan("");
  double aic = std::nan(""), bic = std::nan("");
  std::string status_code;  // ok, at_bound, poorly_determined, failed, not_run
  std::string detail;       // the fit's message
};

FitReport report(const FitSetup& setup, const Subject& subject, const SubjectFit& fit);

}  // namespace cartpk::fitting
