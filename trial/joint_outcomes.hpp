#pragma once
// Response and toxicity of one patient as a joint Bernoulli pair, and the joint count distribution of m
// patients. The 2x2 cells come from the marginals and the odds ratio psi = p11 p00 / (p10 p01) by Plackett's
// quadratic (Plackett 1965; Dale 1986): for psi != 1, p11 is the root in [max(0, pr + pt - 1), min(pr, pt)] of
//   (psi - 1) p11^2 - (1 + (pr + pt)(psi - 1)) p11 + psi pr pt = 0.
#include <vector>

namespace cartpk::trial {

struct JointCells {
  double p11 = 0.0;  // responds, toxicity
  double p10 = 0.0;  // responds, no toxicity
  double p01 = 0.0;  // no response, toxicity
  double p00 = 0.0;  // neither
};

// pr, pt in [0, 1], psi > 0 (std::invalid_argument otherwise). psi = 1: independent. Exact at the boundaries
// (pr or pt equal to 0 or 1 give the degenerate table whatever psi).
JointCells joint_cells(double p_resp, double p_tox, double odds_ratio);

// P(R = r, T = t) among m patients with these cells, as an (m + 1) x (m + 1) row-major table (row r).
// By adding one patient at a time (sums of non-negative terms only): O(m^3).
std::vector<double> joint_counts(const JointCells& cells, int m);

}  // namespace cartpk::trial
