// M2 cart_cd19_bcma: mechanistic CAR-T kinetics (effector, memory, exhausted cells, proliferative capacity)
// with CD19+ B-cell and BCMA+ plasma-cell depletion, autoantibody and hemoglobin, for CD19-, BCMA- and
// dual-directed products in autoimmune disease (warm AIHA). Equations: ../shared/spec/models.md, M2.
// Every dose is a dose record: E gains fblood·(cells/kg)/vblood at the dose time (or over an infusion).
#include <array>
#include <cmath>
#include <memory>
#include <numbers>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

namespace {
constexpr std::string_view kSpec = "cartpk spec v2 (M2)";
constexpr std::string_view kCalibrated =
    "cartpk spec v2 (M2) calibration: reproduces CD19 CAR-T expansion peaking ~day 8 and B-cell return at "
    "~110 d after Flu/Cy in autoimmune disease (Mackensen et al., Nat Med 2022)";
}  // namespace

struct CartCd19Bcma {
  static constexpr std::string_view kName = "cart_cd19_bcma";
  static constexpr std::string_view kSource = "cartpk model specification v2, M2 (shared/spec/models.md)";
  static constexpr std::string_view kDescription =
      "Mechanistic CAR-T (effector/memory/exhausted, proliferative capacity) with CD19+ B-cell and BCMA+ "
      "plasma-cell depletion, autoantibody and hemoglobin (warm AIHA)";

  static constexpr std::array<ParameterSpec, 36> kParameters{{
      {"dose_per_kg", "cells/kg", 1e6, 1e3, 1e9, Domain::positive, "CAR+ cells infused per kg",
       "trial protocol: 1e6 CAR+ cells/kg"},
      {"vblood", "µL/kg", 7.0e4, 5.0e4, 9.0e4, Domain::positive, "blood volume per kg",
       "adult blood volume ~70 mL/kg"},
      {"fblood", "-", 0.02, 1e-4, 0.5, Domain::fraction, "fraction of infused cells in blood at t = 0",
       "cartpk spec v1 (M2): rapid distribution of infused cells out of blood"},
      {"rho", "1/day", 1.1, 0.05, 5.0, Domain::positive, "antigen-driven proliferation rate", kCalibrated},
      {"rhoh", "1/day", 0.45, 0.0, 3.0, Domain::nonnegative, "homeostatic (post-lymphodepletion) proliferation",
       kCalibrated},
      {"kld", "1/day", 0.15, 0.01, 2.0, Domain::positive, "decay rate of the lymphodepletion cytokine surge",
       "cartpk spec v1 (M2): IL-7/IL-15 surge after Flu/Cy wanes over ~1-2 weeks"},
      {"ld", "-", 1.0, 0.0, 1.0, Domain::nonnegative, "lymphodepletion given (1) or not (0)",
       "trial protocol: Flu 30 mg/m2/d + Cy 300 mg/m2/d, days -5 to -3"},
      {"ks", "-", 0.1, 1e-3, 10.0, Domain::positive, "half-saturation of the antigen stimulus", kSpec},
      {"ndiv", "-", 12.0, 1.0, 50.0, Domain::positive, "doublings per e-fold loss of proliferative capacity",
       kSpec},
      {"kem", "1/day", 0.01, 1e-4, 1.0, Domain::positive, "effector to memory conversion", kSpec},
      {"kme", "1/day", 0.02, 0.0, 1.0, Domain::nonnegative, "memory to effector re-activation by antigen", kSpec},
      {"kex", "1/day", 0.05, 0.0, 1.0, Domain::nonnegative, "exhaustion rate under antigen", kSpec},
      {"dele", "1/day", 0.16, 0.01, 2.0, Domain::positive, "effector death",
       "cartpk spec v1 (M2); of the order of Stein 2019's fast contraction alpha = 0.16/day"},
      {"delm", "1/day", 0.03, 1e-4, 0.5, Domain::positive, "memory death", kSpec},
      {"delx", "1/day", 0.3, 0.01, 3.0, Domain::positive, "exhausted-cell death", kSpec},
      {"phim", "-", 1.0, 0.0, 5.0, Domain::nonnegative, "relative killing capacity of memory cells", kSpec},
      {"ec50", "cells/µL", 0.2, 1e-3, 100.0, Domain::positive, "CAR-T level for half-maximal killing", kCalibrated},
      {"kmax19", "1/day", 0.6, 0.0, 10.0, Domain::nonnegative, "maximal CD19+ kill rate (0: no CD19 CAR)",
       kCalibrated},
      {"kmaxbc", "1/day", 0.6, 0.0, 10.0, Domain::nonnegative, "maximal BCMA+ kill rate (0: no BCMA CAR)",
       kCalibrated},
      // The binders decide what stimulates the product (spec v2): a CD19-only CAR cannot see CD19- long-lived
      // plasma cells, a BCMA-only CAR cannot see BCMA- B cells. Values between 0 and 1 weigh a weaker binder.
      {"arm19", "-", 1.0, 0.0, 1.0, Domain::nonnegative, "product carries a CD19 binder (1) or not (0)",
       "cartpk spec v2 (M2): antigen load counts B cells and plasmablasts only for a CD19 binder"},
      {"armbc", "-", 1.0, 0.0, 1.0, Domain::nonnegative, "product carries a BCMA binder (1) or not (0)",
       "cartpk spec v2 (M2): antigen load counts plasmablasts and long-lived plasma cells only for a BCMA binder"},
      {"b0", "cells/µL", 150.0, 10.0, 1000.0, Domain::positive, "baseline blood B cells",
       "normal adult CD19+ B cells ~100-500 cells/µL"},
      {"fld_b", "-", 0.2, 1e-3, 1.0, Domain::positive, "B cells left after Flu/Cy, fraction of b0 (1: no LD)",
       kSpec},
      {"kbm", "1/day", 0.05, 1e-3, 1.0, Domain::positive, "marrow precursor recovery rate", kCalibrated},
      {"kbin", "1/day", 0.03, 1e-3, 1.0, Domain::positive, "B-cell input rate from marrow", kCalibrated},
      {"kbout", "1/day", 0.03, 1e-3, 1.0, Domain::positive, "blood B-cell turnover", kCalibrated},
      {"kr", "1/day", 0.0003, 0.0, 0.1, Domain::nonnegative, "re-formation rate of autoreactive B-cell memory",
       "cartpk spec v1 (M2): autoreactive memory slow to re-form after CD19 CAR-T (durable drug-free remission)"},
      {"kps", "1/day", 0.2, 0.01, 2.0, Domain::positive, "plasmablast turnover", "plasmablast lifespan ~5 days"},
      {"kpl", "1/day", 0.005, 1e-4, 0.1, Domain::positive, "long-lived plasma-cell turnover",
       "long-lived plasma-cell half-life ~140 days in this model (spec v1)"},
      {"fpl", "-", 0.5, 1e-3, 0.999, Domain::fraction, "share of autoantibody from long-lived plasma cells", kSpec},
      {"ka", "1/day", 0.033, 0.005, 0.5, Domain::positive, "antibody elimination", "IgG half-life ~21 days"},
      {"hb0", "g/L", 80.0, 40.0, 160.0, Domain::positive, "baseline hemoglobin",
       "refractory wAIHA: typical baseline ~80 g/L"},
      {"krbc", "1/day", 0.00833, 1e-3, 0.05, Domain::positive, "normal red-cell loss", "120-day red-cell lifespan"},
      {"khem", "1/day", 0.0154, 0.0, 0.5, Domain::nonnegative, "hemolysis rate at baseline autoantibody",
       "cartpk spec v1 (M2): red-cell survival ~42 days in active wAIHA"},
      {"gam", "-", 1.0, 0.0, 5.0, Domain::nonnegative, "erythropoietic feedback exponent", kSpec},
      {"kcp", "(copies/µg)/(cells/µL)", 300.0, 1.0, 1e5, Domain::positive,
       "qPCR copies/µg per CAR+ cell/µL (qpcr = kcp·flow)",
       "cartpk spec v1 convention; fixed unless estimated from paired qPCR and flow data"},
  }};

  static constexpr std::array<VariableSpec, 11> kStates{{
      {"E", "cells/µL", "effector CAR-T", 1.0},
      {"M", "cells/µL", "memory CAR-T", 1.0},
      {"X", "cells/µL", "exhausted CAR-T", 1.0},
      {"Q", "-", "remaining proliferative capacity", 1.0},
      {"Bm", "-", "marrow CD19+ B-cell precursors, fraction of normal", 1.0},
      {"B", "cells/µL", "blood CD19+ B cells", 100.0},
      {"R", "-", "autoreactive B-cell memory, fraction of baseline", 1.0},
      {"Ps", "-", "autoreactive plasmablasts (CD19+ BCMA+), fraction of baseline", 1.0},
      {"Pl", "-", "autoreactive long-lived plasma cells (CD19- BCMA+), fraction of baseline", 1.0},
      {"A", "-", "autoantibody, fraction of baseline", 1.0},
      {"Hb", "g/L", "hemoglobin", 100.0},
  }};

  static constexpr std::array<VariableSpec, 6> kObservables{{
      {"flow", "cells/µL", "CAR+ cells per µL blood (E + M + X)", 1.0, Role::car_t},
      {"qpcr", "copies/µg", "CAR transgene copies per µg genomic DNA (kcp·flow)", 1.0, Role::transgene},
      {"bcell", "cells/µL", "blood CD19+ B cells", 1.0, Role::b_cells},
      {"plasma", "-", "autoreactive plasma cells Ps + Pl, fraction of baseline (2 at baseline)"},
      {"autoab", "-", "autoantibody, fraction of baseline", 1.0, Role::autoantibody},
      {"hb", "g/L", "hemoglobin", 1.0, Role::hemoglobin},
  }};

  // The kinetics a patient's qPCR, flow and B-cell data determine best.
  static constexpr std::array<std::string_view, 6> kDefaultEstimated{"rho", "rhoh", "dele", "kem", "fblood", "kmax19"};

  static constexpr std::array<Preset, 3> kPresets{{
      {"cd19-bcma", "CD19/BCMA dual-target product (default): both binders, both kill rates",
       {{{"arm19", 1.0}, {"armbc", 1.0}}}},
      {"cd19", "CD19-directed product: sees and kills CD19+ cells only",
       {{{"arm19", 1.0}, {"armbc", 0.0}, {"kmaxbc", 0.0}}}},
      {"bcma", "BCMA-directed product: sees and kills BCMA+ cells only",
       {{{"arm19", 0.0}, {"armbc", 1.0}, {"kmax19", 0.0}}}},
  }};

#define CARTPK_P(name) static constexpr int name = index_of(kParameters, #name)
  CARTPK_P(dose_per_kg); CARTPK_P(vblood); CARTPK_P(fblood); CARTPK_P(rho); CARTPK_P(rhoh); CARTPK_P(kld);
  CARTPK_P(ld); CARTPK_P(ks); CARTPK_P(ndiv); CARTPK_P(kem); CARTPK_P(kme); CARTPK_P(kex); CARTPK_P(dele);
  CARTPK_P(delm); CARTPK_P(delx); CARTPK_P(phim); CARTPK_P(ec50); CARTPK_P(kmax19); CARTPK_P(kmaxbc);
  CARTPK_P(arm19); CARTPK_P(armbc); CARTPK_P(b0); CARTPK_P(fld_b); CARTPK_P(kbm); CARTPK_P(kbin);
  CARTPK_P(kbout); CARTPK_P(kr); CARTPK_P(kps);
  CARTPK_P(kpl); CARTPK_P(fpl); CARTPK_P(ka); CARTPK_P(hb0); CARTPK_P(krbc); CARTPK_P(khem); CARTPK_P(gam);
  CARTPK_P(kcp);
#undef CARTPK_P
#define CARTPK_S(name) static constexpr int name = index_of(kStates, #name)
  CARTPK_S(E); CARTPK_S(M); CARTPK_S(X); CARTPK_S(Q); CARTPK_S(Bm); CARTPK_S(B); CARTPK_S(R); CARTPK_S(Ps);
  CARTPK_S(Pl); CARTPK_S(A); CARTPK_S(Hb);
#undef CARTPK_S
#define CARTPK_Y(name) static constexpr int y_##name = index_of(kObservables, #name)
  CARTPK_Y(flow); CARTPK_Y(qpcr); CARTPK_Y(bcell); CARTPK_Y(plasma); CARTPK_Y(autoab); CARTPK_Y(hb);
#undef CARTPK_Y

  // No CAR-T at t = 0 before the first dose record; B cells as left by lymphodepletion.
  template <class T>
  static void initial_state(const T* p, T* x) {
    x[E] = x[M] = x[X] = T(0.0);
    x[Q] = T(1.0);
    x[Bm] = p[fld_b];
    x[B] = p[fld_b] * p[b0];
    x[R] = x[Ps] = x[Pl] = x[A] = T(1.0);
    x[Hb] = p[hb0];
  }

  template <class T>
  static void rhs(Regime /*regime*/, double t, const T* x, const T* p, T* f) {
    using std::exp;
    using std::pow;
    const T b_rel = x[B] / p[b0];
    const T plasmablast_seen = p[arm19] + p[armbc] - p[arm19] * p[armbc];  // CD19+ BCMA+: counted once
    const T antigen = p[arm19] * b_rel + plasmablast_seen * x[Ps] + p[armbc] * x[Pl];  // T
    const T stimulus = antigen / (p[ks] + antigen);                   // S
    const T surge = p[ld] * exp(-p[kld] * t);                         // L(t)
    const T growth = (p[rho] * stimulus + p[rhoh] * surge) * x[Q];    // g
    const T killers = x[E] + p[phim] * x[M];
    const T capacity = killers / (p[ec50] + killers);                 // K
    const T k19 = p[kmax19] * capacity;
    const T kbc = p[kmaxbc] * capacity;
    const T kprod = (p[krbc] + p[khem]) * p[hb0];

    f[E] = growth * x[E] - (p[kem] + p[kex] * stimulus + p[dele]) * x[E] + p[kme] * stimulus * x[M];
    f[M] = p[kem] * x[E] - p[kme] * stimulus * x[M] - p[delm] * x[M];
    f[X] = p[kex] * stimulus * x[E] - p[delx] * x[X];
    f[Q] = -growth * x[Q] / (p[ndiv] * std::numbers::ln2);
    f[Bm] = p[kbm] * (1.0 - x[Bm]) - k19 * x[Bm];
    f[B] = p[kbin] * p[b0] * x[Bm] - p[kbout] * x[B] - k19 * x[B];
    f[R] = p[kr] * (1.0 - x[R]) * b_rel - k19 * x[R];
    f[Ps] = p[kps] * b_rel * x[R] - p[kps] * x[Ps] - (k19 + kbc) * x[Ps];
    f[Pl] = p[kpl] * x[Ps] - p[kpl] * x[Pl] - kbc * x[Pl];
    f[A] = p[ka] * ((1.0 - p[fpl]) * x[Ps] + p[fpl] * x[Pl]) - p[ka] * x[A];
    f[Hb] = kprod * pow(p[hb0] / x[Hb], p[gam]) - (p[krbc] + p[khem] * x[A]) * x[Hb];
  }

  template <class T>
  static void observables(double /*t*/, const T* x, const T* p, T* y) {
    const T car = x[E] + x[M] + x[X];
    y[y_flow] = car;
    y[y_qpcr] = p[kcp] * car;
    y[y_bcell] = x[B];
    y[y_plasma] = x[Ps] + x[Pl];
    y[y_autoab] = x[A];
    y[y_hb] = x[Hb];
  }

  // A dose (cells, or a fraction of dose_per_kg) enters effector CAR-T in blood: fblood·(cells/kg)/vblood.
  static constexpr int kDoseState = E;
  template <class T>
  static T dose_amount(const DoseRecord& dose, const T* p) {
    const T cells_per_kg = dose.unit == DoseUnit::cells ? T(dose.amount / dose.weight_kg)
                                                        : dose.amount * p[dose_per_kg];
    return p[fblood] * cells_per_kg / p[vblood];
  }
};

std::unique_ptr<Model> make_cart_cd19_bcma() { return std::make_unique<ModelAdapter<CartCd19Bcma>>(); }

}  // namespace cartpk::models
