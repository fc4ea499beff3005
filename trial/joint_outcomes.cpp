#include "trial/joint_outcomes.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cartpk::trial {

JointCells joint_cells(double pr, double pt, double psi) {
  if (!(pr >= 0.0 && pr <= 1.0) || !(pt >= 0.0 && pt <= 1.0) || !(psi > 0.0) || !std::isfinite(psi))
    throw std::invalid_argument("joint_cells: expected probabilities in [0, 1] and an odds ratio > 0");
  double p11;
  if (pr == 0.0 || pt == 0.0) p11 = 0.0;
  else if (pr == 1.0) p11 = pt;
  else if (pt == 1.0) p11 = pr;
  else if (psi == 1.0) p11 = pr * pt;
  else {
    // Both forms of the smaller root, each used where it does not cancel.
    const double a = 1.0 + (pr + pt) * (psi - 1.0);
    const double s = std::sqrt(a * a - 4.0 * psi * (psi - 1.0) * pr * pt);
    p11 = a >= 0.0 ? 2.0 * psi * pr * pt / (a + s) : (a - s) / (2.0 * (psi - 1.0));
    p11 = std::clamp(p11, std::max(0.0, pr + pt - 1.0), std::min(pr, pt));
  }
  JointCells c;
  c.p11 = p11;
  c.p10 = std::max(0.0, pr - p11);
  c.p01 = std::max(0.0, pt - p11);
  c.p00 = std::max(0.0, (1.0 - pr) - pt + p11);
  return c;
}

std::vector<double> joint_counts(const JointCells& c, int m) {
  if (m < 0) throw std::invalid_argument("joint_counts: expected m >= 0");
  const auto w = static_cast<std::size_t>(m + 1);
  std::vector<double> cur(w * w, 0.0), next(w * w, 0.0);
  cur[0] = 1.0;
  for (int k = 0; k < m; ++k) {  // k patients so far: counts 0..k
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t r = 0; r <= static_cast<std::size_t>(k); ++r)
      for (std::size_t t = 0; t <= static_cast<std::size_t>(k); ++t) {
        const double v = cur[r * w + t];
        if (v == 0.0) continue;
        next[r * w + t] += v * c.p00;
        next[(r + 1) * w + t] += v * c.p10;
        next[r * w + t + 1] += v * c.p01;
        next[(r + 1) * w + t + 1] += v * c.p11;
      }
    std::swap(cur, next);
  }
  return cur;
}

}  // namespace cartpk::trial
