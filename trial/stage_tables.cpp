#include "trial/stage_tables.hpp"

#include <algorithm>
#include <stdexcept>

namespace cartpk::trial {

double pass_probability(const BinomialTable& b, int n1, int n2, int c1, int c) {
  double total = 0.0;
  for (int x1 = n1; x1 > c1 && x1 >= 0; --x1) total += b.pmf(n1, x1) * b.sf(n2, c - x1);
  return total;
}

StagePassTable::StagePassTable(const BinomialTable& b, int n1, int n2) : n_(n1 + n2) {
  if (n1 < 1 || n2 < 0 || n1 + n2 > b.max_size())
    throw std::invalid_argument("StagePassTable: stage sizes outside the binomial table");
  const auto n = static_cast<std::size_t>(n_);
  pass_.assign(static_cast<std::size_t>(n1 + 1) * n, 0.0);
  cont_.assign(static_cast<std::size_t>(n1 + 1), 0.0);
  // Row c1 is row c1 + 1 plus the term x1 = c1 + 1 (rows are filled from c1 = n1 - 1 down to -1).
  std::vector<double> row(n, 0.0);
  for (int c1 = n1 - 1; c1 >= -1; --c1) {
    const int x1 = c1 + 1;
    const double f = b.pmf(n1, x1);
    for (int c = 0; c < n_; ++c) row[static_cast<std::size_t>(c)] += f * b.sf(n2, c - x1);
    const auto at = static_cast<std::size_t>(c1 + 1);
    std::copy(row.begin(), row.end(), pass_.begin() + static_cast<std::ptrdiff_t>(at * n));
    cont_[at] = b.sf(n1, c1);
  }
}

}  // namespace cartpk::trial
