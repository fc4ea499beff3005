#include "trial/design_evaluate.hpp"

#include <stdexcept>
#include <vector>

#include "trial/joint_outcomes.hpp"

namespace cartpk::trial {

namespace {
void check(const ToxicityStopDesign& d) {
  if (d.n1 < 1 || d.n <= d.n1 || d.max_tox_stage1 < 0 || d.min_responders < 0 ||
      (d.max_tox_final && *d.max_tox_final < 0))
    throw std::invalid_argument("evaluate_design: malformed design");
}

// P(stage-2 counts make the trial succeed | stage-1 responders r1 and toxicities t1), from the stage-2 joint
// count table (or, without a final toxicity rule, the stage-2 responder tail).
double success_given_stage1(const ToxicityStopDesign& d, const std::vector<double>& stage2, int n2, int r1,
                            int t1) {
  const auto w = static_cast<std::size_t>(n2 + 1);
  const int need = d.min_responders - (d.responders_from == RespondersFrom::all ? r1 : 0);  // from stage 2
  const int tox_room = d.max_tox_final ? *d.max_tox_final - t1 : n2;                        // stage-2 toxicities allowed
  if (tox_room < 0) return 0.0;
  double total = 0.0;
  for (int r2 = n2; r2 >= std::max(need, 0); --r2)
    for (int t2 = std::min(tox_room, n2); t2 >= 0; --t2)
      total += stage2[static_cast<std::size_t>(r2) * w + static_cast<std::size_t>(t2)];
  return total;
}
}  // namespace

OperatingCharacteristics evaluate_design(const ToxicityStopDesign& d, double p_resp, double p_tox,
                                         double odds_ratio) {
  check(d);
  const JointCells cells = joint_cells(p_resp, p_tox, odds_ratio);
  const int n2 = d.n - d.n1;
  const auto stage1 = joint_counts(cells, d.n1);
  const auto stage2 = joint_counts(cells, n2);
  const auto w1 = static_cast<std::size_t>(d.n1 + 1);

  OperatingCharacteristics oc;
  for (int r1 = 0; r1 <= d.n1; ++r1)
    for (int t1 = 0; t1 <= d.n1; ++t1) {
      const double p = stage1[static_cast<std::size_t>(r1) * w1 + static_cast<std::size_t>(t1)];
      if (p == 0.0) continue;
      if (t1 > d.max_tox_stage1) {
        oc.p_stop_stage1 += p;
      } else {
        oc.p_success += p * success_given_stage1(d, stage2, n2, r1, t1);
      }
    }
  oc.expected_n = d.n1 + n2 * (1.0 - oc.p_stop_stage1);
  oc.expected_toxicities = p_tox * oc.expected_n;
  return oc;
}

}  // namespace cartpk::trial
