// QuantileSketch against an exact reference (the sorted sample, NumPy's method='lower' rank): every estimate
// within α of the true order statistic; merging is exact and order-independent; memory stays small.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

#include "pkmodel/quantile_sketch.hpp"

using cartpk::QuantileSketch;

namespace {
constexpr double levels[] = {0, .01, .05, .25, .5, .75, .95, .99, 1};
constexpr double inf = std::numeric_limits<double>::infinity();

// The exact order statistic of rank floor(q·(n−1)) among the non-NaN values.
double exact_quantile(std::vector<double> values, double q) {
  std::erase_if(values, [](double v) { return std::isnan(v); });
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

// |estimate − x| ≤ α|x| (+ 1e-12 relative for rounding); x in the zero bucket gives 0 or x itself.
void check_all_levels(const std::vector<double>& values, const QuantileSketch& sketch) {
  const double alpha = sketch.relative_accuracy();
  for (double q : levels) {
    const double x = exact_quantile(values, q);
    const double estimate = sketch.quantile(q);
    CAPTURE(q);
    CAPTURE(x);
    CAPTURE(estimate);
    CAPTURE(values.size());
    if (std::isinf(x)) {
      CHECK(estimate == x);
    } else if (std::abs(x) < sketch.zero_threshold()) {
      CHECK((estimate == 0.0 || estimate == x));
    } else {
      CHECK(std::abs(estimate - x) <= (alpha + 1e-12) * std::abs(x));
    }
  }
}

QuantileSketch sketch_of(const std::vector<double>& values, double alpha = 1e-3) {
  QuantileSketch s(alpha);
  for (double v : values) s.add(v);
  return s;
}

std::vector<double> log_normal(std::size_t n, double sigma, unsigned seed, double median = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, 1.0);
  std::vector<double> out(n);
  for (auto& v : out) v = median * std::exp(sigma * z(rng));
  return out;
}

bool bit_identical(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

TEST_CASE("quantile sketch: log-normal samples of every size and spread, every level within α of the exact value") {
  unsigned seed = 1;
  for (double alpha : {1e-3, 1e-2}) {
    for (double sigma : {0.01, 0.5, 2.0, 8.0}) {
      for (std::size_t n : {1u, 2u, 3u, 10u, 1000u, 100000u}) {
        const auto values = log_normal(n, sigma, seed++, 1e6);
        CAPTURE(alpha);
        CAPTURE(sigma);
        const auto sketch = sketch_of(values, alpha);
        CHECK(sketch.count() == n);
        CHECK(sketch.nan_count() == 0);
        check_all_levels(values, sketch);
        CHECK(sketch.min() == *std::min_element(values.begin(), values.end()));
        CHECK(sketch.max() == *std::max_element(values.begin(), values.end()));
      }
    }
  }
}

TEST_CASE("quantile sketch: negatives, zeros (±0, subnormals), infinities and NaNs, mixed") {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> kind(0, 9);
  std::normal_distribution<double> z(0.0, 3.0);
  for (std::size_t n : {1u, 2u, 10u, 1000u, 100000u}) {
    std::vector<double> values(n);
    std::size_t nans = 0;
    for (auto& v : values) {
      switch (kind(rng)) {
        case 0: v = 0.0; break;
        case 1: v = -0.0; break;
        case 2: v = 1e-320 * (z(rng) > 0 ? 1 : -1); break;  // subnormal
        case 3: v = std::nan(""); ++nans; break;
        case 4: v = -std::exp(z(rng)); break;
        case 5: v = -std::exp(z(rng)) * 1e-3; break;
        default: v = std::exp(z(rng)); break;
      }
    }
    if (n >= 1000) {
      values[7] = inf;
      values[8] = -inf;
      values[9] = inf;
    }
    const auto sketch = sketch_of(values);
    CAPTURE(n);
    CHECK(sketch.nan_count() == nans);
    CHECK(sketch.count() == n - nans);
    if (sketch.count() > 0) check_all_levels(values, sketch);
  }
}

TEST_CASE("quantile sketch: only NaNs or nothing gives NaN; single values of every magnitude come back exactly") {
  QuantileSketch s;
  CHECK(std::isnan(s.quantile(0.5)));
  s.add(std::nan(""), 3);
  CHECK(s.count() == 0);
  CHECK(s.nan_count() == 3);
  CHECK(std::isnan(s.quantile(0.5)));
  CHECK(std::isnan(s.min()));
  const double max = std::numeric_limits<double>::max();
  const double tiny = std::numeric_limits<double>::min();
  for (double v : {max, -max, tiny, -tiny, 1e-300, 1e300, 1.0, -1.0, 0.0, inf, -inf}) {
    QuantileSketch one;
    one.add(v);
    CHECK(one.quantile(0.5) == v);  // rank 0 is the minimum, kept exactly
  }
}

TEST_CASE("quantile sketch: values at bucket edges and at the extremes of the double range keep the guarantee") {
  const double alpha = 1e-3;
  const double log_gamma = std::log1p(2 * alpha / (1 - alpha));
  std::vector<double> values;
  for (int k = -354000; k <= 354000; k += 997) {  // γ^k and its neighbours across the whole normal range
    const double edge = std::exp(k * log_gamma);
    if (!std::isfinite(edge) || edge < std::numeric_limits<double>::min()) continue;
    values.push_back(edge);
    values.push_back(std::nextafter(edge, 0.0));
    values.push_back(std::nextafter(edge, inf));
    values.push_back(-edge);
  }
  values.push_back(std::numeric_limits<double>::max());
  values.push_back(std::numeric_limits<double>::min());
  const auto sketch = sketch_of(values, alpha);
  check_all_levels(values, sketch);
  // Every rank, not just the usual levels.
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t r = 0; r < sorted.size(); ++r) {
    const double q = static_cast<double>(r) / static_cast<double>(sorted.size() - 1);
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1));
    const double x = sorted[rank];
    const double e = sketch.quantile(q);
    if (!(std::abs(e - x) <= (alpha + 1e-12) * std::abs(x))) {
      CAPTURE(x);
      CAPTURE(e);
      FAIL("rank " << rank << " outside the guarantee");
    }
  }
}

TEST_CASE("quantile sketch: values at the cubic index mapping's bucket edges and powers of two keep the guarantee") {
  // The edges computed here from the mapping's definition (header): f(a) = e + P(s), a = 2^e·(1+s),
  // P(s) = ((6/35·s − 3/5)·s + 10/7)·s, bucket i = ceil(m·f(a)), m = 7/(10·ln γ).
  for (const double alpha : {1e-3, 1e-2, 0.2}) {
    const double m = 0.7 / std::log1p(2 * alpha / (1 - alpha));
    const auto inverse = [](double f) {
      const double e = std::floor(f);
      double lo = 0.0, hi = 1.0;
      for (int k = 0; k < 200; ++k) {
        const double mid = 0.5 * (lo + hi);
        (((6.0 / 35.0 * mid - 3.0 / 5.0) * mid + 10.0 / 7.0) * mid < f - e ? lo : hi) = mid;
      }
      return std::ldexp(1.0 + 0.5 * (lo + hi), static_cast<int>(e));
    };
    std::vector<double> values;
    const int last = static_cast<int>(1000 * m);
    for (int i = -last; i <= last; i += std::max(1, last / 3000)) {
      const double edge = inverse(i / m);
      if (!(edge >= std::numeric_limits<double>::min() && std::isfinite(edge))) continue;
      for (const double v : {edge, std::nextafter(edge, 0.0), std::nextafter(edge, inf)}) {
        values.push_back(v);
        values.push_back(-v);
      }
    }
    for (int e = -1020; e <= 1020; e += 7)  // powers of two and the mapping's flattest point, s = 2/3
      for (const double v : {std::ldexp(1.0, e), std::ldexp(5.0 / 3.0, e), std::nextafter(std::ldexp(1.0, e), 0.0)})
        values.push_back(v);
    CAPTURE(alpha);
    QuantileSketch whole(alpha);
    whole.add(std::span<const double>(values));  // the block path
    const auto one_by_one = sketch_of(values, alpha);
    check_all_levels(values, whole);
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t r = 0; r < sorted.size(); r += 7) {
      const double q = static_cast<double>(r) / static_cast<double>(sorted.size() - 1);
      const double x = sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))];
      const double e = whole.quantile(q);
      CHECK(bit_identical(e, one_by_one.quantile(q)));
      if (!(std::abs(e - x) <= (alpha + 1e-12) * std::abs(x))) {
        CAPTURE(x);
        CAPTURE(e);
        FAIL("rank " << r << " outside the guarantee");
      }
    }
  }
}

TEST_CASE("quantile sketch: merged halves, added in any order, give bit-identical quantiles to one sketch") {
  auto values = log_normal(100000, 2.0, 7);
  for (std::size_t k = 0; k < values.size(); k += 5) values[k] = -values[k];
  values[3] = 0.0;
  values[11] = std::nan("");
  const auto whole = sketch_of(values);

  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 4; ++trial) {
    auto shuffled = values;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto middle = shuffled.begin() + static_cast<std::ptrdiff_t>(shuffled.size() / (2 + trial));
    QuantileSketch first;
    QuantileSketch second;
    for (auto it = shuffled.begin(); it != middle; ++it) first.add(*it);
    for (auto it = shuffled.rbegin(); it.base() != middle; ++it) second.add(*it);  // backwards
    QuantileSketch a = first;
    a.merge(second);
    QuantileSketch b = second;
    b.merge(first);
    QuantileSketch c;  // merging into an empty sketch
    c.merge(b);
    for (double q : levels) {
      CAPTURE(q);
      CHECK(bit_identical(a.quantile(q), whole.quantile(q)));
      CHECK(bit_identical(b.quantile(q), whole.quantile(q)));
      CHECK(bit_identical(c.quantile(q), whole.quantile(q)));
    }
    CHECK(a.count() == whole.count());
    CHECK(a.nan_count() == whole.nan_count());
  }
  check_all_levels(values, whole);
}

TEST_CASE("quantile sketch: add with a count equals adding one by one; clear forgets; self-merge doubles") {
  QuantileSketch counted;
  QuantileSketch one_by_one;
  const double values[] = {3.5, -2.0, 0.0, 1e-7, 3.5, 1e7};
  for (std::uint64_t k = 0; k < 6; ++k) {
    counted.add(values[k], k + 1);
    for (std::uint64_t j = 0; j <= k; ++j) one_by_one.add(values[k]);
  }
  for (double q : levels) CHECK(bit_identical(counted.quantile(q), one_by_one.quantile(q)));
  QuantileSketch doubled = counted;
  doubled.merge(doubled);
  CHECK(doubled.count() == 2 * counted.count());
  for (double q : levels) CHECK(bit_identical(doubled.quantile(q), counted.quantile(q)));
  counted.clear();
  CHECK(counted.empty());
  counted.add(2.0);
  CHECK(counted.quantile(0.3) == 2.0);
}

TEST_CASE("quantile sketch: memory stays small for a million log-normal values") {
  const auto values = log_normal(1000000, 2.0, 11, 1e5);
  const auto sketch = sketch_of(values);
  MESSAGE("10^6 log-normal values, sigma 2, alpha 1e-3: " << sketch.memory_bytes() << " bytes");
  CHECK(sketch.memory_bytes() < 200 * 1024);
  check_all_levels(values, sketch);
}

TEST_CASE("quantile sketch: bad settings and levels are refused") {
  CHECK_THROWS_AS(QuantileSketch(0.0), std::invalid_argument);
  CHECK_THROWS_AS(QuantileSketch(0.7), std::invalid_argument);
  CHECK_THROWS_AS(QuantileSketch(std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(QuantileSketch(1e-3, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(QuantileSketch(1e-3, inf), std::invalid_argument);
  QuantileSketch a(1e-3);
  const QuantileSketch b(1e-2);
  CHECK_THROWS_WITH_AS(a.merge(b), doctest::Contains("relative accuracy 0.01"), std::invalid_argument);
  a.add(1.0);
  CHECK_THROWS_AS((void)a.quantile(1.5), std::invalid_argument);
  CHECK_THROWS_AS((void)a.quantile(-0.1), std::invalid_argument);
  CHECK_THROWS_AS((void)a.quantile(std::nan("")), std::invalid_argument);
}

TEST_CASE("quantile sketch: a larger zero threshold counts small magnitudes as zero") {
  QuantileSketch s(1e-3, 1e-6);
  for (double v : {1e-9, -1e-9, 2e-7, 1.0, 2.0}) s.add(v);
  CHECK(s.zero_count() == 3);
  CHECK(s.quantile(0.5) == 0.0);
  CHECK(std::abs(s.quantile(0.75) - 1.0) <= 1e-3 + 1e-12);  // 1 = γ⁰ is a bucket edge: error α exactly
}

TEST_CASE("quantile sketch: adding a span equals adding its values one by one, specials included") {
  auto values = log_normal(5000, 3.0, 5);
  for (std::size_t k = 0; k < values.size(); k += 7) values[k] = -values[k];
  values[1] = 0.0;
  values[2] = -0.0;
  values[3] = std::nan("");
  values[4] = inf;
  values[5] = -inf;
  values[6] = 1e-320;
  QuantileSketch one_by_one;
  for (double v : values) one_by_one.add(v);
  QuantileSketch spans;
  spans.add(std::span<const double>(values).first(1000));  // blocks of several sizes
  spans.add(std::span<const double>(values).subspan(1000, 3));
  spans.add(std::span<const double>(values).subspan(1003));
  CHECK(spans.count() == one_by_one.count());
  CHECK(spans.nan_count() == 1);
  CHECK(spans.zero_count() == 3);
  CHECK(spans.to_words() == one_by_one.to_words());  // every bucket's count: the vectorised indices are index_of's
  for (double q : levels) CHECK(bit_identical(spans.quantile(q), one_by_one.quantile(q)));
  check_all_levels(values, spans);
}

TEST_CASE("quantile sketch: to_words and from_words give back bit-identical results, and mergeable ones") {
  auto values = log_normal(20000, 2.5, 9);
  for (std::size_t k = 0; k < values.size(); k += 3) values[k] = -values[k];
  values[0] = 0.0;
  values[1] = inf;
  values[2] = std::nan("");
  const auto whole = sketch_of(values);
  QuantileSketch first;
  QuantileSketch second;
  for (std::size_t k = 0; k < values.size(); ++k) (k % 2 ? first : second).add(values[k]);
  // as two MPI ranks would: serialise, send, rebuild, merge
  QuantileSketch gathered = QuantileSketch::from_words(first.to_words());
  gathered.merge(QuantileSketch::from_words(second.to_words()));
  const auto round_trip = QuantileSketch::from_words(whole.to_words());
  for (double q : levels) {
    CHECK(bit_identical(round_trip.quantile(q), whole.quantile(q)));
    CHECK(bit_identical(gathered.quantile(q), whole.quantile(q)));
  }
  CHECK(round_trip.nan_count() == 1);
  CHECK(gathered.count() == whole.count());
  CHECK(QuantileSketch::from_words(QuantileSketch().to_words()).empty());
  auto words = whole.to_words();
  words.pop_back();
  CHECK_THROWS_AS((void)QuantileSketch::from_words(words), std::invalid_argument);
  CHECK_THROWS_AS((void)QuantileSketch::from_words(std::vector<std::uint64_t>{1, 2, 3}), std::invalid_argument);
}
