#include "trial/design_evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>
#include <vector>

#include "trial/binomial.hpp"
#include "trial/joint_outcomes.hpp"

namespace cartpk::trial {

namespace {
void check(const ToxicityStopDesign& d) {
  if (d.n1 < 1 || d.n <= d.n1 || d.max_tox_stage1 < 0 || d.min_responders < 0 ||
      (d.max_tox_final && *d.max_tox_final < 0))
    throw std::invalid_argument("evaluate_design: malformed design");
}

// P(the stage-2 counts make the trial succeed | stage-1 responders r1 and toxicities t1). Without a final
// toxicity rule only the stage-2 responders matter (a binomial tail); with one, the stage-2 joint counts.
class StageTwo {
 public:
  StageTwo(const ToxicityStopDesign& d, const JointCells& cells, double p_resp)
      : d_(d), n2_(d.n - d.n1), responders_(p_resp, d.max_tox_final ? 0 : n2_) {
    if (d.max_tox_final) joint_ = joint_counts(cells, n2_);
  }

  [[nodiscard]] double success(int r1, int t1) const {
    const int need = std::max(d_.min_responders - (d_.responders_from == RespondersFrom::all ? r1 : 0), 0);
    if (!d_.max_tox_final) return responders_.sf(n2_, need - 1);  // P(R2 >= need)
    const int tox_room = std::min(*d_.max_tox_final - t1, n2_);     // stage-2 toxicities allowed
    if (tox_room < 0) return 0.0;
    const auto w = static_cast<std::size_t>(n2_ + 1);
    double total = 0.0;
    for (int r2 = n2_; r2 >= need; --r2)
      for (int t2 = tox_room; t2 >= 0; --t2) total += joint_[static_cast<std::size_t>(r2) * w + static_cast<std::size_t>(t2)];
    return total;
  }

 private:
  const ToxicityStopDesign& d_;
  int n2_;
  BinomialTable responders_;  // R2 ~ Bin(n2, p_resp) (empty with a final toxicity rule)
  std::vector<double> joint_;  // P(R2, T2) (only with a final toxicity rule)
};

// The marginals are passed as given (not re-summed from the cells) so the limiting cases stay exact.
OperatingCharacteristics evaluate(const ToxicityStopDesign& d, const JointCells& cells, double p_resp, double p_tox) {
  check(d);
  const auto stage1 = joint_counts(cells, d.n1);
  const StageTwo stage2(d, cells, p_resp);
  const auto w1 = static_cast<std::size_t>(d.n1 + 1);

  OperatingCharacteristics oc;
  for (int r1 = 0; r1 <= d.n1; ++r1)
    for (int t1 = 0; t1 <= d.n1; ++t1) {
      const double p = stage1[static_cast<std::size_t>(r1) * w1 + static_cast<std::size_t>(t1)];
      if (p == 0.0) continue;
      if (t1 > d.max_tox_stage1) oc.p_stop_stage1 += p;
      else oc.p_success += p * stage2.success(r1, t1);
    }
  const int n2 = d.n - d.n1;
  oc.expected_n = d.n1 + n2 * (1.0 - oc.p_stop_stage1);
  oc.expected_toxicities = p_tox * oc.expected_n;
  return oc;
}
}  // namespace

OperatingCharacteristics evaluate_design(const ToxicityStopDesign& d, double p_resp, double p_tox,
                                         double odds_ratio) {
  return evaluate(d, joint_cells(p_resp, p_tox, odds_ratio), p_resp, p_tox);
}

OperatingCharacteristics evaluate_design(const ToxicityStopDesign& d, const JointCells& cells) {
  const double cell[] = {cells.p11, cells.p10, cells.p01, cells.p00};
  if (std::any_of(std::begin(cell), std::end(cell), [](double c) { return !(c >= 0.0 && c <= 1.0); }) ||
      std::abs(cells.p11 + cells.p10 + cells.p01 + cells.p00 - 1.0) > 1e-9)
    throw std::invalid_argument("evaluate_design: joint cells must be probabilities summing to 1");
  return evaluate(d, cells, std::min(1.0, cells.p11 + cells.p10), std::min(1.0, cells.p11 + cells.p01));
}

}  // namespace cartpk::trial
