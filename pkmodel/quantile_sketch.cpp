#include "pkmodel/quantile_sketch.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>
#include <string>

#include "pkmodel/errors.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace cartpk {

QuantileSketch::QuantileSketch(double relative_accuracy, double zero_threshold)
    : alpha_(relative_accuracy), zero_threshold_(zero_threshold) {
  if (!(relative_accuracy >= 1e-6 && relative_accuracy <= 0.5))
    throw std::invalid_argument("quantile sketch: relative accuracy " + number_text(relative_accuracy) +
                                " outside [1e-6, 0.5]");
  if (!(zero_threshold >= std::numeric_limits<double>::min() && std::isfinite(zero_threshold)))
    throw std::invalid_argument("quantile sketch: zero threshold " + number_text(zero_threshold) +
                                " must be finite and at least the smallest normal double");
  const double log_gamma = std::log1p(2 * alpha_ / (1 - alpha_));  // ln γ, γ = (1+α)/(1−α), without rounding γ
  multiplier_ = 0.7 / log_gamma;  // 1/(min df/d(ln a) · ln γ), min df/d(ln a) = 10/7 (header)
}

void QuantileSketch::add(std::span<const double> values) {
  constexpr std::size_t block = 256;
  int index[block];
  for (std::size_t start = 0; start < values.size(); start += block) {
    const std::size_t n = std::min(block, values.size() - start);
    const double* v = values.data() + start;
    // Positive finite values (the common case) first: their indices, how many, and the smallest and largest, so
    // that the store grows once and the counts, totals and extremes are not updated through memory per value.
    std::size_t m = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    std::size_t k = 0;
#if defined(__SSE2__)
    // Two values at a time, the same operations as index_of in the same order (so the same indices).
    {
      const __m128d zero = _mm_set1_pd(zero_threshold_), inf = _mm_set1_pd(std::numeric_limits<double>::infinity());
      const __m128i mantissa = _mm_set1_epi64x(0x000FFFFFFFFFFFFFll), one_bits = _mm_set1_epi64x(0x3FF0000000000000ll);
      const __m128i two52_bits = _mm_set1_epi64x(0x4330000000000000ll);          // 2^52
      const __m128d two52_bias = _mm_set1_pd(4503599627370496.0 + 1023.0);     // 2^52 + the exponent bias
      const __m128d one = _mm_set1_pd(1.0), a = _mm_set1_pd(kCubicA), b = _mm_set1_pd(kCubicB),
                    c = _mm_set1_pd(kCubicC), mult = _mm_set1_pd(multiplier_);
      __m128d vlo = _mm_set1_pd(lo), vhi = _mm_set1_pd(hi);
      alignas(16) int out[4];
      for (; k + 2 <= n; k += 2) {
        const __m128d x = _mm_loadu_pd(v + k);
        const __m128d ok = _mm_and_pd(_mm_cmpge_pd(x, zero), _mm_cmplt_pd(x, inf));
        const int regular = _mm_movemask_pd(ok);
        const __m128i bits = _mm_castpd_si128(x);
        // e = biased exponent − 1023, exactly: (2^52 + biased) − (2^52 + 1023)
        const __m128d e = _mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(_mm_srli_epi64(bits, 52), two52_bits)), two52_bias);
        const __m128d s = _mm_sub_pd(_mm_castsi128_pd(_mm_or_si128(_mm_and_si128(bits, mantissa), one_bits)), one);
        const __m128d p = _mm_mul_pd(_mm_add_pd(_mm_mul_pd(_mm_add_pd(_mm_mul_pd(a, s), b), s), c), s);
        const __m128d t = _mm_mul_pd(_mm_add_pd(e, p), mult);
        const __m128i i = _mm_cvttpd_epi32(t);                                  // truncated, in the low two lanes
        const __m128i below = _mm_castpd_si128(_mm_cmplt_pd(_mm_cvtepi32_pd(i), t));  // all ones where i < t
        _mm_store_si128(reinterpret_cast<__m128i*>(out), _mm_sub_epi32(i, _mm_shuffle_epi32(below, 0x08)));
        index[m] = out[0];
        m += static_cast<std::size_t>(regular & 1);
        index[m] = out[1];
        m += static_cast<std::size_t>(regular >> 1);
        const __m128d kept_lo = _mm_or_pd(_mm_and_pd(ok, x), _mm_andnot_pd(ok, vlo));
        const __m128d kept_hi = _mm_or_pd(_mm_and_pd(ok, x), _mm_andnot_pd(ok, vhi));
        vlo = _mm_min_pd(vlo, kept_lo);
        vhi = _mm_max_pd(vhi, kept_hi);
      }
      alignas(16) double l[2], h[2];
      _mm_store_pd(l, vlo);
      _mm_store_pd(h, vhi);
      lo = std::min(l[0], l[1]);
      hi = std::max(h[0], h[1]);
    }
#endif
    for (; k < n; ++k) {  // without branches: zeros and positives mix unpredictably in a band
      const bool regular = v[k] >= zero_threshold_ && v[k] < std::numeric_limits<double>::infinity();
      index[m] = index_of(regular ? v[k] : 1.0);
      m += regular ? 1 : 0;
      lo = std::min(lo, regular ? v[k] : lo);
      hi = std::max(hi, regular ? v[k] : hi);
    }
    if (m > 0) {
      positive_.add_run(index, m, index_of(lo), index_of(hi));  // the index is monotone in the value
      count_ += m;
      min_ = std::min(min_, lo);
      max_ = std::max(max_, hi);
    }
    if (m < n)
      for (std::size_t j = 0; j < n; ++j)
        if (!(v[j] >= zero_threshold_ && v[j] < std::numeric_limits<double>::infinity())) add(v[j], 1);
  }
}

void QuantileSketch::Store::add_run(const int* index, std::size_t n, int lo, int hi) {
  grow_to_cover(lo, hi);
  std::uint64_t* c = counts_.data();
  const int offset = offset_;
  for (std::size_t k = 0; k < n; ++k) ++c[static_cast<std::size_t>(index[k] - offset)];
  total_ += n;
}

void QuantileSketch::Store::grow_to(int index) {
  constexpr int min_size = 64;
  if (counts_.empty()) {
    counts_.assign(min_size, 0);
    offset_ = index - min_size / 2;
    return;
  }
  const int size = static_cast<int>(counts_.size());
  const int slack = std::max(size / 2, min_size);  // amortised growth, as a vector's
  int lo = offset_;
  int hi = offset_ + size;  // one past the last
  if (index < lo) lo = std::min(index, lo - slack);
  if (index >= hi) hi = std::max(index + 1, hi + slack);
  std::vector<std::uint64_t> grown(static_cast<std::size_t>(hi - lo), 0);
  std::copy(counts_.begin(), counts_.end(), grown.begin() + (offset_ - lo));
  counts_ = std::move(grown);
  offset_ = lo;
}

void QuantileSketch::Store::merge(const Store& other) {
  const auto& c = other.counts_;
  const auto first = std::find_if(c.begin(), c.end(), [](std::uint64_t n) { return n != 0; });
  if (first == c.end()) return;
  const auto last = std::find_if(c.rbegin(), c.rend(), [](std::uint64_t n) { return n != 0; }).base();  // past
  const int lo = other.offset_ + static_cast<int>(first - c.begin());
  const int hi = other.offset_ + static_cast<int>(last - c.begin()) - 1;
  grow_to_cover(lo, hi);
  for (auto it = first; it != last; ++it)
    counts_[static_cast<std::size_t>(other.offset_ + static_cast<int>(it - c.begin()) - offset_)] += *it;
  total_ += other.total_;
}

void QuantileSketch::Store::grow_to_cover(int lo, int hi) {
  const auto inside = [this](int i) { return i >= offset_ && i < offset_ + static_cast<int>(counts_.size()); };
  if (!inside(lo)) grow_to(lo);
  if (!inside(hi)) grow_to(hi);
}

void QuantileSketch::Store::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.alpha_ != alpha_ || other.zero_threshold_ != zero_threshold_)
    throw std::invalid_argument("quantile sketch: cannot merge a sketch of relative accuracy " +
                                number_text(other.alpha_) + " and zero threshold " +
                                number_text(other.zero_threshold_) + " into one of " + number_text(alpha_) +
                                " and " + number_text(zero_threshold_));
  if (&other == this) {  // doubling every count
    const QuantileSketch copy = other;
    merge(copy);
    return;
  }
  positive_.merge(other.positive_);
  negative_.merge(other.negative_);
  zero_count_ += other.zero_count_;
  pos_inf_count_ += other.pos_inf_count_;
  neg_inf_count_ += other.neg_inf_count_;
  nan_count_ += other.nan_count_;
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void QuantileSketch::clear() {
  positive_.clear();
  negative_.clear();
  zero_count_ = pos_inf_count_ = neg_inf_count_ = nan_count_ = count_ = 0;
  min_ = std::numeric_limits<double>::infinity();
  max_ = -std::numeric_limits<double>::infinity();
}

double QuantileSketch::min() const { return empty() ? std::numeric_limits<double>::quiet_NaN() : min_; }
double QuantileSketch::max() const { return empty() ? std::numeric_limits<double>::quiet_NaN() : max_; }

// The a with f(a) = f, as 2^e·(1+s): e = floor(f), P(s) = f − e solved by Newton's method. P is increasing and
// concave on [0, 1] with P(s) ≥ s, so from s = f − e the iterates approach the root from below after the first
// step, quadratically: 8 steps reach the last bit from any start.
QuantileSketch::Power QuantileSketch::inverse_mapping(double f) {
  const double e = std::floor(f);
  const double target = f - e;
  double s = target;
  for (int k = 0; k < 8; ++k) {
    const double p = ((kCubicA * s + kCubicB) * s + kCubicC) * s - target;
    const double slope = (3.0 * kCubicA * s + 2.0 * kCubicB) * s + kCubicC;
    s -= p / slope;
  }
  return {1.0 + std::clamp(s, 0.0, 1.0), static_cast<int>(e)};
}

double QuantileSketch::bucket_value(int index) const {
  const Power lower = inverse_mapping(static_cast<double>(index - 1) / multiplier_);
  const Power upper = inverse_mapping(static_cast<double>(index) / multiplier_);
  // 2·L·U/(L+U) scaled by 2^−e_L, so that a bucket at the end of the double range does not overflow on the way.
  const double l = lower.mantissa, u = std::ldexp(upper.mantissa, upper.exponent - lower.exponent);
  return std::ldexp(2.0 * l * u / (l + u), lower.exponent);
}

// The value of rank `rank` (0-based) in the order −inf, negatives (largest magnitude first), zeros, positives, +inf.
double QuantileSketch::value_at_rank(std::uint64_t rank) const {
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::uint64_t seen = neg_inf_count_;
  if (rank < seen) return -inf;
  if (rank < seen + negative_.total()) {
    const auto& c = negative_.counts();
    for (std::size_t k = c.size(); k-- > 0;) {
      seen += c[k];
      if (rank < seen) return -bucket_value(negative_.first_index() + static_cast<int>(k));
    }
  }
  seen += negative_.total();
  seen += zero_count_;
  if (rank < seen) return 0.0;
  if (rank < seen + positive_.total()) {
    const auto& c = positive_.counts();
    for (std::size_t k = 0; k < c.size(); ++k) {
      seen += c[k];
      if (rank < seen) return bucket_value(positive_.first_index() + static_cast<int>(k));
    }
  }
  return inf;
}

double QuantileSketch::quantile(double q) const {
  if (!(q >= 0 && q <= 1)) throw std::invalid_argument("quantile sketch: quantile level " + number_text(q) +
                                                       " outside [0, 1]");
  if (empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));  // floor, q ≥ 0
  if (rank == 0) return min_;
  if (rank >= count_ - 1) return max_;
  // Clamping to the exact extremes only moves the estimate towards the true order statistic.
  return std::clamp(value_at_rank(rank), min_, max_);
}

std::vector<double> QuantileSketch::quantiles(std::span<const double> qs) const {
  std::vector<double> out;
  out.reserve(qs.size());
  for (double q : qs) out.push_back(quantile(q));
  return out;
}

namespace {
constexpr std::uint64_t words_format = 0x4444534b45544332;  // "DDSKETC2" (cubic index mapping)
[[noreturn]] void bad_words(const char* what) {
  throw std::invalid_argument(std::string("quantile sketch: malformed words (") + what + ")");
}
}  // namespace

void QuantileSketch::Store::append_words(std::vector<std::uint64_t>& out) const {
  std::size_t first = 0;
  std::size_t last = counts_.size();
  while (first < last && counts_[first] == 0) ++first;
  while (last > first && counts_[last - 1] == 0) --last;
  out.push_back(std::bit_cast<std::uint64_t>(static_cast<std::int64_t>(offset_ + static_cast<int>(first))));
  out.push_back(last - first);
  out.insert(out.end(), counts_.begin() + static_cast<std::ptrdiff_t>(first),
             counts_.begin() + static_cast<std::ptrdiff_t>(last));
}

std::span<const std::uint64_t> QuantileSketch::Store::read_words(std::span<const std::uint64_t> in) {
  if (in.size() < 2) bad_words("short store");
  const auto first = std::bit_cast<std::int64_t>(in[0]);
  const std::uint64_t n = in[1];
  constexpr std::int64_t limit = std::int64_t{1} << 30;  // indices stay far inside int (see the constructor)
  if (first < -limit || first > limit || n > static_cast<std::uint64_t>(limit) || n > in.size() - 2)
    bad_words("store range");
  counts_.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
  offset_ = static_cast<int>(first);
  total_ = 0;
  for (std::uint64_t c : counts_) total_ += c;
  return in.subspan(2 + n);
}

std::vector<std::uint64_t> QuantileSketch::to_words() const {
  std::vector<std::uint64_t> out{words_format,
                                 std::bit_cast<std::uint64_t>(alpha_),
                                 std::bit_cast<std::uint64_t>(zero_threshold_),
                                 zero_count_,
                                 pos_inf_count_,
                                 neg_inf_count_,
                                 nan_count_,
                                 count_,
                                 std::bit_cast<std::uint64_t>(min_),
                                 std::bit_cast<std::uint64_t>(max_)};
  positive_.append_words(out);
  negative_.append_words(out);
  return out;
}

QuantileSketch QuantileSketch::from_words(std::span<const std::uint64_t> words) {
  if (words.size() < 10 || words[0] != words_format) bad_words("not a sketch");
  QuantileSketch s(std::bit_cast<double>(words[1]), std::bit_cast<double>(words[2]));
  s.zero_count_ = words[3];
  s.pos_inf_count_ = words[4];
  s.neg_inf_count_ = words[5];
  s.nan_count_ = words[6];
  s.count_ = words[7];
  s.min_ = std::bit_cast<double>(words[8]);
  s.max_ = std::bit_cast<double>(words[9]);
  const auto rest = s.negative_.read_words(s.positive_.read_words(words.subspan(10)));
  if (!rest.empty()) bad_words("trailing words");
  if (s.count_ != s.zero_count_ + s.pos_inf_count_ + s.neg_inf_count_ + s.positive_.total() + s.negative_.total())
    bad_words("counts do not add up");
  return s;
}

std::size_t QuantileSketch::memory_bytes() const {
  return sizeof(*this) + positive_.memory_bytes() + negative_.memory_bytes();
}

}  // namespace cartpk
