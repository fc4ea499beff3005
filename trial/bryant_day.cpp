#include "trial/bryant_day.hpp"

#include <algorithm>
#include <stdexcept>

#include "trial/binomial.hpp"
#include "trial/design_ties.hpp"
#include "trial/stage_tables.hpp"

namespace cartpk::trial {

namespace {
void check(const BryantDayInputs& in) {
  const auto in_unit = [](double x) { return x > 0.0 && x < 1.0; };
  if (!(in_unit(in.r0) && in_unit(in.r1) && in.r0 < in.r1) || !(in_unit(in.t0) && in_unit(in.t1) && in.t0 < in.t1) ||
      !in_unit(in.alpha_r) || !in_unit(in.alpha_t) || !in_unit(in.power) || in.nmin < 2 || in.nmin > in.nmax ||
      in.nmax > kBryantDayMaxN)
    throw std::invalid_argument("bryant_day_designs: inputs outside their domain");
}

// The four binomial tables of a search (response at r0, r1; non-toxicity at t0, t1) and, per (n1, n2), the
// pass tables of each.
struct Tables {
  BinomialTable r0, r1, t0, t1;
  explicit Tables(const BryantDayInputs& in)
      : r0(in.r0, in.nmax), r1(in.r1, in.nmax), t0(in.t0, in.nmax), t1(in.t1, in.nmax) {}
};

struct StageTables {
  StagePassTable r0, r1, t0, t1;
  StageTables(const Tables& b, int n1, int n2)
      : r0(b.r0, n1, n2), r1(b.r1, n1, n2), t0(b.t0, n1, n2), t1(b.t1, n1, n2) {}
};

BryantDayDesign make_design(const StageTables& s, int n1, int n, int cr1, int ct1, int cr, int ct) {
  BryantDayDesign d{n1, n, cr1, ct1, cr, ct};
  d.alpha_r = s.r0.pass(cr1, cr) * s.t1.pass(ct1, ct);
  d.alpha_t = s.r1.pass(cr1, cr) * s.t0.pass(ct1, ct);
  d.power = s.r1.pass(cr1, cr) * s.t1.pass(ct1, ct);
  const double n2 = n - n1;
  d.en_r0t1 = n1 + n2 * s.r0.cont(cr1) * s.t1.cont(ct1);
  d.en_r1t0 = n1 + n2 * s.r1.cont(cr1) * s.t0.cont(ct1);
  d.en_r0t0 = n1 + n2 * s.r0.cont(cr1) * s.t0.cont(ct1);
  return d;
}

// For one stage-1 rule: the final thresholds (cr, ct) of largest power meeting both alpha bounds and the
// power requirement, or false. For a fixed cr the most powerful admissible ct is the smallest one meeting the
// alpha bounds; it can only rise as cr falls, so one pass over cr (downwards) with one ct pointer suffices.
bool best_final_thresholds(const StageTables& s, const BryantDayInputs& in, int n1, int n, int cr1, int ct1,
                           int& best_cr, int& best_ct) {
  const int n2 = n - n1;
  const int cr_first = std::max(cr1, 0), cr_last = std::min(n2 + cr1, n - 1);
  const int ct_first = std::max(ct1, 0), ct_last = std::min(n2 + ct1, n - 1);
  double best_power = -1.0;
  int ct = ct_first;
  for (int cr = cr_last; cr >= cr_first; --cr) {
    const double a0 = s.r0.pass(cr1, cr), a1 = s.r1.pass(cr1, cr);
    if (a1 * s.t1.pass(ct1, ct_first) < in.power) continue;  // too strict on response for any ct
    while (ct <= ct_last && (a0 * s.t1.pass(ct1, ct) > in.alpha_r || a1 * s.t0.pass(ct1, ct) > in.alpha_t)) ++ct;
    if (ct > ct_last) break;  // smaller cr needs a still larger ct
    const double power = a1 * s.t1.pass(ct1, ct);
    if (power >= in.power && !clearly_less(power, best_power)) {  // ties go to the smaller cr (later here)
      best_power = power;
      best_cr = cr;
      best_ct = ct;
    }
  }
  return best_power >= 0.0;
}
}  // namespace

BryantDayDesign bryant_day_evaluate(int n1, int n, int cr1, int ct1, int cr, int ct, const BryantDayInputs& rates) {
  BryantDayInputs in = rates;
  in.nmax = n;
  const Tables b(in);
  return make_design(StageTables(b, n1, n - n1), n1, n, cr1, ct1, cr, ct);
}

std::optional<BryantDayResult> bryant_day_designs(const BryantDayInputs& in) {
  check(in);
  const Tables b(in);
  std::optional<BryantDayDesign> optimal, minimax;
  for (int n = in.nmin; n <= in.nmax; ++n) {
    for (int n1 = 1; n1 < n; ++n1) {
      if (optimal && clearly_less(optimal->criterion(), n1)) break;  // every criterion is >= n1
      const int n2 = n - n1;
      const StageTables s(b, n1, n2);
      for (int cr1 = -1; cr1 < n1; ++cr1) {
        // The most power any design with this cr1 can have falls with cr1.
        const double response_max = s.r1.pass(cr1, std::max(cr1, 0));
        if (response_max < in.power) break;
        for (int ct1 = -1; ct1 < n1; ++ct1) {
          if (response_max * s.t1.pass(ct1, std::max(ct1, 0)) < in.power) break;
          const double criterion =
              n1 + n2 * std::max(s.r0.cont(cr1) * s.t1.cont(ct1), s.r1.cont(cr1) * s.t0.cont(ct1));
          if (optimal && !clearly_less(criterion, optimal->criterion())) continue;
          int cr = 0, ct = 0;
          if (best_final_thresholds(s, in, n1, n, cr1, ct1, cr, ct)) optimal = make_design(s, n1, n, cr1, ct1, cr, ct);
        }
      }
    }
    if (optimal && !minimax) minimax = optimal;
  }
  if (!optimal) return std::nullopt;
  return BryantDayResult{*optimal, *minimax};
}

}  // namespace cartpk::trial
