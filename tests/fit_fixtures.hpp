#pragma once
// Simulated subjects with known truth, for the fitting tests.
#include <cmath>
#include <random>
#include <vector>

#include "fitting/objective.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::testing {

inline const std::vector<double> kSampleDays{1, 4, 7, 9, 11, 14, 21, 28, 56, 90, 180, 365};
inline const std::vector<double> kDenseSampleDays{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 17, 21, 28,
                                                  42, 56, 90, 120, 180, 270, 365, 540};

// A stein2019 subject: qPCR at `days` with log-normal error sigma, BLQ (M3) below lloq.
inline Subject simulate_stein_subject(const std::vector<double>& truth, double sigma, double lloq, std::mt19937_64& rng,
                                      const std::string& id, const std::vector<double>& days = kSampleDays) {
  const Model& model = find_model("stein2019");
  ClosedFormSolver solver(model);
  const auto r = solver.solve({truth, days, {}, {}});
  std::normal_distribution<double> noise(0.0, sigma);
  Subject s;
  s.id = id;
  for (std::size_t k = 0; k < days.size(); ++k) {
    const double dv = r.observables(static_cast<Eigen::Index>(k), 0) * std::exp(noise(rng));
    Observation o;
    o.time_day = days[k];
    o.observable = 0;  // qpcr
    o.censored = dv < lloq;
    o.value = o.censored ? lloq : dv;
    s.observations.push_back(o);
  }
  return s;
}

// The default stein2019 fit: six kinetic parameters within the model's bounds, log-normal error estimated.
inline fitting::FitSetup stein_setup(const std::string& method = "closed") {
  return fitting::default_setup(find_model("stein2019"), method);
}

}  // namespace cartpk::testing
