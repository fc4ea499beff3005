#pragma once
// Exact binomial probabilities for every size up to a maximum, built once per success probability: the
// probability mass, P(X <= k) and P(X > k) for X ~ Binomial(m, p), 0 <= m <= max_size. Used by the two-stage
// design searches, which need the same tables for many stage sizes.
#include <vector>

namespace cartpk::trial {

class BinomialTable {
 public:
  // p in [0, 1], max_size >= 0. Built by Pascal's recursion pmf(m, k) = p pmf(m-1, k-1) + (1-p) pmf(m-1, k):
  // every step is a convex combination of non-negative numbers, so the relative error grows at most
  // linearly in m (about 1e-14 at m = 100) and nothing cancels; tails are summed from their small end.
  BinomialTable(double p, int max_size);

  [[nodiscard]] double p() const { return p_; }
  [[nodiscard]] int max_size() const { return max_size_; }
  // P(X = k); 0 outside 0..m.
  [[nodiscard]] double pmf(int m, int k) const;
  // P(X <= k): 0 for k < 0, 1 for k >= m.
  [[nodiscard]] double cdf(int m, int k) const;
  // P(X > k): 1 for k < 0, 0 for k >= m.
  [[nodiscard]] double sf(int m, int k) const;

 private:
  [[nodiscard]] std::size_t index(int m, int k) const {
    return static_cast<std::size_t>(m) * static_cast<std::size_t>(m + 1) / 2 + static_cast<std::size_t>(k);
  }
  double p_;
  int max_size_;
  std::vector<double> pmf_, cdf_, sf_;  // row m holds k = 0..m (triangular storage)
};

}  // namespace cartpk::trial
