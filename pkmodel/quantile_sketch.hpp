#pragma once
// A mergeable streaming quantile estimator with a relative-accuracy guarantee (DDSketch: Masson, Rim & Lee,
// "DDSketch: a fast and fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019).
//
// Index mapping: the paper's cubically interpolated logarithm. A value a = |v| ≥ zero_threshold, written
// a = 2^e·(1+s) with s in [0, 1) (read off the bits of the double, no call to log), has
// f(a) = e + P(s), P(s) = ((6/35·s − 3/5)·s + 10/7)·s, a continuous increasing approximation of log2(a) that is
// exact at powers of two. It goes to bucket i = ceil(m·f(a)), i.e. a ∈ (L_i, U_i] with f(L_i) = (i−1)/m and
// f(U_i) = i/m; the bucket stands for 2·L_i·U_i/(L_i+U_i), which is within (U_i/L_i − 1)/(U_i/L_i + 1) relative of
// every value in it. df/d(ln a) = P'(s)·(1+s) ≥ 10/7 (its minimum, at s = 0 and s = 2/3), so with
// m = 7/(10·ln γ), γ = (1+α)/(1−α), every bucket has U_i/L_i ≤ γ and so relative width at most that of the exact
// logarithmic mapping, and the representative is within α·a of every value a in it. Buckets are ~1 % narrower
// on average than the exact mapping's (1 % more of them). Negative values use a mirrored store of |v|. Each store
// is a dense array of integer counts over the buckets between its smallest and largest index, so memory is about
// 8 bytes × 1.01·ln(max/min)/ln γ per sign, about 8 bytes × ln(max/min) / (2α) (10⁶ log-normal values with σ = 2
// at α = 10⁻³: about 90 KB), whatever the number of values.
//
// Guarantee: quantile(q) returns an estimate of the order statistic x of rank floor(q·(n−1)) (0-based, NumPy's
// method='lower'), with |estimate − x| ≤ α·|x| (up to ~10⁻¹³ relative rounding of f and of its inverse); exactly
// x when x is the minimum or maximum (both kept exactly), 0 when x is in the zero bucket.
//
// Special values: |v| < zero_threshold (default: the smallest normal double, so ±0 and subnormals) counts as 0;
// +inf and −inf are counted on their own and are order statistics like any other (a quantile that falls on them
// returns ±inf exactly); NaN is counted apart (nan_count()) and takes no part in count() or the quantiles.
//
// Determinism: the bucket of a value is a pure function of the value's bits (a few multiplications and adds, no
// libm), counts are integers, min and max are exact, so the state that quantile() reads — and so every result —
// depends only on the multiset of values added: any order, any split into sketches merged in any order, gives
// bit-identical quantiles. Not thread-safe: one sketch per thread, then merge.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace cartpk {

class QuantileSketch {
 public:
  // relative_accuracy α in [1e-6, 0.5]; zero_threshold ≥ the smallest normal double (finite). A larger
  // zero_threshold bounds memory when values reach down to tiny magnitudes that do not matter (e.g. 1e-30 cells).
  // Throws std::invalid_argument outside these ranges.
  explicit QuantileSketch(double relative_accuracy = 1e-3,
                          double zero_threshold = std::numeric_limits<double>::min());

  void add(double v) { add(v, 1); }
  void add(double v, std::uint64_t count);
  // The same as adding each value, faster for long runs: the bucket indices of a block are computed first, so
  // the memory accesses of the increments overlap (one sketch of many, out of cache, costs a miss per value).
  void add(std::span<const double> values);
  // Adds the other sketch's counts. Both must have the same α and zero threshold (std::invalid_argument).
  void merge(const QuantileSketch& other);
  void clear();  // forgets every value, keeps the allocated buckets

  [[nodiscard]] std::uint64_t count() const { return count_; }  // values added, NaN excepted
  [[nodiscard]] std::uint64_t nan_count() const { return nan_count_; }
  [[nodiscard]] std::uint64_t zero_count() const { return zero_count_; }
  [[nodiscard]] bool empty() const { return count_ == 0; }
  [[nodiscard]] double min() const;  // exact; NaN when empty
  [[nodiscard]] double max() const;  // exact; NaN when empty
  // q in [0, 1] (std::invalid_argument otherwise); NaN when empty.
  [[nodiscard]] double quantile(double q) const;
  // Several quantiles at once; the same values as quantile().
  [[nodiscard]] std::vector<double> quantiles(std::span<const double> qs) const;

  [[nodiscard]] double relative_accuracy() const { return alpha_; }
  [[nodiscard]] double zero_threshold() const { return zero_threshold_; }
  [[nodiscard]] std::size_t memory_bytes() const;  // this object and its buckets (allocated capacity)

  // The whole state as 64-bit words (settings, counts, exact min/max, the non-empty bucket range of each sign),
  // to send between MPI ranks (MPI_UINT64_T) or store; from_words gives back a sketch with bit-identical results.
  // from_words throws std::invalid_argument on words that are not a sketch of this format.
  [[nodiscard]] std::vector<std::uint64_t> to_words() const;
  [[nodiscard]] static QuantileSketch from_words(std::span<const std::uint64_t> words);

 private:
  // Counts of buckets offset_ .. offset_ + counts_.size() − 1, grown in either direction as needed.
  class Store {
   public:
    void add(int index, std::uint64_t n) {
      const auto k = static_cast<std::size_t>(static_cast<unsigned>(index - offset_));
      if (k < counts_.size()) {
        counts_[k] += n;
      } else {
        grow_to(index);
        counts_[static_cast<std::size_t>(index - offset_)] += n;
      }
      total_ += n;
    }
    // Adds one to each of index[0..n), all of which are in [lo, hi].
    void add_run(const int* index, std::size_t n, int lo, int hi);
    void merge(const Store& other);
    void clear();
    [[nodiscard]] std::uint64_t total() const { return total_; }
    [[nodiscard]] int first_index() const { return offset_; }
    [[nodiscard]] const std::vector<std::uint64_t>& counts() const { return counts_; }
    [[nodiscard]] std::size_t memory_bytes() const { return counts_.capacity() * sizeof(std::uint64_t); }
    void append_words(std::vector<std::uint64_t>& out) const;  // first index, length, counts (non-zero range)
    std::span<const std::uint64_t> read_words(std::span<const std::uint64_t> in);  // returns the rest

   private:
    void grow_to(int index);  // the range covers index afterwards
    void grow_to_cover(int lo, int hi);
    std::vector<std::uint64_t> counts_;
    int offset_ = 0;
    std::uint64_t total_ = 0;
  };

  // ceil(m·f(a)) for a ≥ zero_threshold_ (≥ the smallest normal, finite), f the cubic log2 of the header.
  [[nodiscard]] int index_of(double a) const {
    const auto bits = std::bit_cast<std::uint64_t>(a);
    const double e = static_cast<double>(static_cast<int>(bits >> 52) - 1023);  // a > 0: no sign bit
    const double s = std::bit_cast<double>((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull) - 1.0;
    const double t = (e + ((kCubicA * s + kCubicB) * s + kCubicC) * s) * multiplier_;
    const int i = static_cast<int>(t);  // truncates towards zero
    return i + (static_cast<double>(i) < t ? 1 : 0);
  }
  static constexpr double kCubicA = 6.0 / 35.0, kCubicB = -3.0 / 5.0, kCubicC = 10.0 / 7.0;
  struct Power {
    double mantissa;  // in [1, 2]
    int exponent;
  };
  [[nodiscard]] static Power inverse_mapping(double f);  // the a with f(a) = f, as mantissa·2^exponent
  [[nodiscard]] double bucket_value(int index) const;  // 2·L·U/(L+U) of bucket (L, U]
  [[nodiscard]] double value_at_rank(std::uint64_t rank) const;

  double alpha_;
  double zero_threshold_;
  double multiplier_;    // m = 7/(10·ln γ)
  Store positive_;
  Store negative_;       // of |v|
  std::uint64_t zero_count_ = 0;
  std::uint64_t pos_inf_count_ = 0;
  std::uint64_t neg_inf_count_ = 0;
  std::uint64_t nan_count_ = 0;
  std::uint64_t count_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
};

inline void QuantileSketch::add(double v, std::uint64_t n) {
  if (n == 0) return;
  if (v >= zero_threshold_) {
    if (v < std::numeric_limits<double>::infinity())
      positive_.add(index_of(v), n);
    else
      pos_inf_count_ += n;
  } else if (v <= -zero_threshold_) {
    if (v > -std::numeric_limits<double>::infinity())
      negative_.add(index_of(-v), n);
    else
      neg_inf_count_ += n;
  } else if (v == v) {
    zero_count_ += n;
    if (v == 0) v = 0.0;  // −0 and +0 alike, so min() and max() do not depend on the order of adding
  } else {
    nan_count_ += n;
    return;
  }
  count_ += n;
  if (v < min_) min_ = v;
  if (v > max_) max_ = v;
}

}  // namespace cartpk
