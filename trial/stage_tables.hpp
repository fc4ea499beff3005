#pragma once
// The probabilities every two-stage rule on one binary endpoint is made of. Stage 1 has n1 patients with X1
// events, stage 2 n2 more with X2 (independent, same probability p). The rule "continue if X1 > c1, accept if
// X1 + X2 > c" passes with
//   pass(c1, c) = P(X1 > c1, X1 + X2 > c) = sum_{x1 = c1+1}^{n1} P(X1 = x1) P(X2 > c - x1)
// and continues past stage 1 with cont(c1) = P(X1 > c1). c1 = -1 means "always continue".
#include <vector>

#include "trial/binomial.hpp"

namespace cartpk::trial {

// One probability, computed directly: O(n1).
double pass_probability(const BinomialTable& b, int n1, int n2, int c1, int c);

// Every pass(c1, c) for -1 <= c1 < n1 and 0 <= c < n1 + n2, for one (n1, n2): O(n1 (n1 + n2)).
class StagePassTable {
 public:
  StagePassTable(const BinomialTable& b, int n1, int n2);
  [[nodiscard]] double pass(int c1, int c) const {
    return pass_[static_cast<std::size_t>(c1 + 1) * static_cast<std::size_t>(n_) + static_cast<std::size_t>(c)];
  }
  [[nodiscard]] double cont(int c1) const { return cont_[static_cast<std::size_t>(c1 + 1)]; }

 private:
  int n_;
  std::vector<double> pass_;  // row c1 + 1, column c
  std::vector<double> cont_;  // index c1 + 1
};

}  // namespace cartpk::trial
