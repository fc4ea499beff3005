#include "trial/binomial.hpp"

#include <stdexcept>

namespace cartpk::trial {

BinomialTable::BinomialTable(double p, int max_size) : p_(p), max_size_(max_size) {
  if (!(p >= 0.0 && p <= 1.0) || max_size < 0)
    throw std::invalid_argument("BinomialTable: expected p in [0, 1] and max_size >= 0");
  const double q = 1.0 - p;
  const std::size_t size = index(max_size + 1, 0);
  pmf_.assign(size, 0.0);
  cdf_.assign(size, 0.0);
  sf_.assign(size, 0.0);
  pmf_[0] = 1.0;
  for (int m = 1; m <= max_size; ++m) {
    const std::size_t row = index(m, 0), prev = index(m - 1, 0);
    pmf_[row] = q * pmf_[prev];
    for (int k = 1; k < m; ++k) pmf_[row + k] = p * pmf_[prev + k - 1] + q * pmf_[prev + k];
    pmf_[row + m] = p * pmf_[prev + m - 1];
  }
  for (int m = 0; m <= max_size; ++m) {
    const std::size_t row = index(m, 0);
    double lower = 0.0;
    for (int k = 0; k <= m; ++k) cdf_[row + k] = lower += pmf_[row + k];
    double upper = 0.0;  // P(X > k), summed from the top
    for (int k = m; k >= 0; --k) {
      sf_[row + k] = upper;
      upper += pmf_[row + k];
    }
    cdf_[row + m] = 1.0;
  }
}

double BinomialTable::pmf(int m, int k) const {
  if (k < 0 || k > m) return 0.0;
  return pmf_[index(m, k)];
}

double BinomialTable::cdf(int m, int k) const {
  if (k < 0) return 0.0;
  if (k >= m) return 1.0;
  return cdf_[index(m, k)];
}

double BinomialTable::sf(int m, int k) const {
  if (k < 0) return 1.0;
  if (k >= m) return 0.0;
  return sf_[index(m, k)];
}

}  // namespace cartpk::trial
