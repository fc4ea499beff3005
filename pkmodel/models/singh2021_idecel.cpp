// P2 singh2021_idecel: multiscale PK-PD of the BCMA CAR-T idecabtagene vicleucel (bb2121) in multiple myeloma,
// Singh AP et al., CPT Pharmacometrics Syst Pharmacol 2021;10(4):362-376, clinical model fitted to the mean
// CRB-401 data. Equations: ../shared/spec/published-models.md, P2 (as in nlmixr2lib's
// Singh_2021_idecabtageneVicleucel_human.R, which carries the CAR-T pools as cell numbers like this file).
//
// Effector and memory CAR-T move between blood (Epb, Mpb) and bone marrow (Et, Mt); in the marrow the CARs bind
// BCMA on myeloma cells (Cplx, complexes per L). Complexes per CAR-T cell drive Emax expansion of the marrow
// effectors, complexes per tumour cell drive Emax killing of an exponentially growing tumour; serum M-protein and
// soluble BCMA turn over with production ∝ (Tumor/Tumor0)^gamma. A dose (CAR+ cells) enters Epb.
//
// Stiffness: blood effectors leave at Kel_e = 113 /day (half-life ~9 min) and the CAR-BCMA complex dissociates at
// koff = Koff·86400 ≈ 206 /day, against expansion, killing and turnover on the scale of days to months.
#include <array>
#include <cmath>
#include <memory>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

namespace {
constexpr std::string_view kEstimated = "Singh 2021 Table 1 (clinical PK-PD model), estimated";
constexpr std::string_view kFixed = "Singh 2021 Table 1 (clinical PK-PD model), fixed";
constexpr std::string_view kAssumedIiv =
    "Singh 2021 Table 1 (clinical PK-PD model), estimated; IIV: 50 % assumed by the authors (SI), omega2 0.25";
constexpr double kSecondsPerDay = 86400.0;
constexpr double kAvogadro = 6.023e23;  // as the paper's Monolix code (and the spec) write it
}  // namespace

struct Singh2021Idecel {
  static constexpr std::string_view kName = "singh2021_idecel";
  static constexpr std::string_view kSource =
      "Singh AP et al., CPT Pharmacometrics Syst Pharmacol 2021;10(4):362-376, clinical model, Table 1 "
      "(nlmixr2lib Singh_2021_idecabtageneVicleucel_human)";
  static constexpr std::string_view kDescription =
      "BCMA CAR-T (idecabtagene vicleucel) multiscale PK-PD: blood/marrow effector and memory CAR-T, CAR-BCMA "
      "binding, myeloma killing, serum M-protein and soluble BCMA";

  // ω² is the published variance of log(parameter): Table 1's omega (a Monolix SD) squared, as nlmixr2lib enters it.
  static constexpr std::array<ParameterSpec, 25> kParameters{{
      {"dose", "cells", 150e6, 1e6, 5e9, Domain::positive,
       "CAR+ cells infused (a dose record's fraction multiplies it)",
       "CRB-401 dose levels 50, 150, 450, 800 x 10^6 CAR+ cells (Raje et al., NEJM 2019); 150e6 is the lowest "
       "dose of the approved 150-450e6 range"},
      // Estimated (mean CRB-401 fit).
      {"Kexp_max", "1/day", 1.73, 0.01, 20.0, Domain::positive, "maximal expansion rate of marrow effectors",
       kEstimated, 0.0484},
      {"EC50_exp", "complexes/cell", 10.0, 0.01, 1e4, Domain::positive,
       "complexes per CAR-T cell for half-maximal expansion", kEstimated},
      {"Rm", "1/day", 2e-5, 1e-9, 1.0, Domain::positive, "effector to memory conversion (net, marrow)", kEstimated},
      {"Kel_e", "1/day", 113.0, 1.0, 1e4, Domain::positive, "elimination of effector CAR-T from blood", kAssumedIiv,
       0.25},
      {"Kel_m", "1/day", 0.219, 1e-3, 20.0, Domain::positive, "elimination of memory CAR-T from blood", kAssumedIiv,
       0.25},
      {"K12", "1/day", 1.71, 0.01, 200.0, Domain::positive, "blood to bone-marrow distribution", kAssumedIiv, 0.25},
      {"K21", "1/day", 0.176, 1e-3, 20.0, Domain::positive, "bone-marrow to blood redistribution", kAssumedIiv,
       0.25},
      {"Kkill_max", "1/day", 0.343, 1e-3, 20.0, Domain::positive, "maximal kill rate of myeloma cells", kEstimated,
       0.25},
      {"gamma_m", "-", 0.215, 1e-3, 10.0, Domain::positive, "exponent of relative tumour burden on M-protein production",
       kEstimated, 0.0441},
      // Fixed in the fit.
      {"gamma_b", "-", 1.0, 0.01, 20.0, Domain::positive, "exponent of relative tumour burden on sBCMA production",
       "Singh 2021 Table 1 (clinical PK-PD model), fixed at 1; IIV omega 1.0 estimated (omega2 1)", 1.0},
      {"KC50", "complexes/cell", 2.24, 1e-3, 1e4, Domain::positive,
       "complexes per tumour cell for half-maximal killing", "Singh 2021 Table 1 (clinical), fixed (in vitro estimate)"},
      {"Kg", "1/day", 0.008, 0.0, 0.1, Domain::nonnegative, "myeloma growth rate (0.1: doubling in a week)", kFixed},
      {"Kon", "1/M/s", 7.103e4, 1e2, 1e8, Domain::positive, "CAR-BCMA association rate constant",
       "Singh 2021 Table 1 (clinical), fixed: 7.1e4; 7.103e4 as run in the Monolix code (SI)"},
      {"Koff", "1/s", 2.385e-3, 1e-7, 1.0, Domain::positive, "CAR-BCMA dissociation rate constant",
       "Singh 2021 Table 1 (clinical), fixed: 2.39e-3; 2.385e-3 as run in the Monolix code (SI)"},
      {"AgCAR", "CARs/cell", 15000.0, 10.0, 1e7, Domain::positive, "CAR density on CAR-T cells", kFixed},
      {"AgTumor", "BCMA/cell", 12590.0, 10.0, 1e7, Domain::positive, "BCMA density on myeloma cells", kFixed},
      {"TransC", "(copies/µg)/(cells/L)", 0.002, 1e-6, 10.0, Domain::positive,
       "transgene copies per µg genomic DNA per CAR-T cell/L of blood", kFixed},
      {"Vb", "L", 5.0, 1.0, 10.0, Domain::positive, "blood volume", kFixed},
      {"Vbm", "L", 3.65, 0.5, 10.0, Domain::positive, "bone-marrow volume", kFixed},
      {"Tumor0", "cells/L", 2.5e9, 1e5, 1e12, Domain::positive, "baseline myeloma cells per L of marrow",
       "Singh 2021 Monolix code (SI s002): Tumor_T_0 = 2.5e9 cells/L of bone marrow"},
      {"Km", "1/day", 0.117, 1e-3, 10.0, Domain::positive, "serum M-protein degradation", kFixed},
      {"Pm", "pg/cell/day", 12.1, 1e-3, 1e4, Domain::positive, "M-protein production per myeloma cell", kFixed},
      {"Kb", "1/day", 0.7, 1e-3, 100.0, Domain::positive, "soluble BCMA degradation", kFixed},
      {"Pb", "pg/cell/day", 0.175, 1e-5, 100.0, Domain::positive, "soluble BCMA production per myeloma cell",
       "Singh 2021 Table 1 (clinical), fixed (calculated)"},
  }};

  // Typical scales set the absolute tolerance (atol_scale × scale, 1e-12 × scale by default). Cell numbers and
  // complexes per L: 1e6, i.e. 1e-6 of one cell (or one complex per L) by default, far below anything a qPCR
  // sees (its ~5 copies/µg LLOQ is ~1e4 blood cells) yet resolving complexes per CAR-T cell (Cplx/conc, the
  // expansion signal) once a dose has reached the marrow (conc > 1e4 cells/L within minutes). Larger scales
  // (1e8 cells, 1e9 complexes/L) save ~10 % of the steps but let complexes per CAR-T cell drift at loose
  // tolerances. Myeloma per L near its baseline (1e9), M-protein and sBCMA near theirs (0.26 g/L, 625 ng/mL).
  static constexpr std::array<VariableSpec, 8> kStates{{
      {"Epb", "cells", "effector CAR-T in blood", 1e6},
      {"Mpb", "cells", "memory CAR-T in blood", 1e6},
      {"Et", "cells", "effector CAR-T in bone marrow", 1e6},
      {"Mt", "cells", "memory CAR-T in bone marrow", 1e6},
      {"Cplx", "complexes/L", "CAR-BCMA complexes per L of bone marrow", 1e6},
      {"Tumor", "cells/L", "myeloma cells per L of bone marrow", 1e9},
      {"Mprot", "g/L", "serum M-protein", 0.1},
      {"sBCMA", "ng/mL", "serum soluble BCMA", 100.0},
  }};

  static constexpr std::array<VariableSpec, 4> kObservables{{
      {"transgene", "copies/µg", "CAR transgene copies per µg genomic DNA in blood, TransC·(Epb + Mpb)/Vb", 1.0,
       Role::transgene},
      {"tumor", "cells/L", "myeloma cells per L of bone marrow", 1.0, Role::tumor},
      {"mprotein", "g/L", "serum M-protein", 1.0},
      {"sbcma", "ng/mL", "serum soluble BCMA", 1.0},
  }};

  // The parameters the paper estimated from the mean CRB-401 data (gamma_b was fixed at 1).
  static constexpr std::array<std::string_view, 9> kDefaultEstimated{
      "Kexp_max", "EC50_exp", "Rm", "Kel_e", "Kel_m", "K12", "K21", "Kkill_max", "gamma_m"};

#define CARTPK_P(name) static constexpr int name = index_of(kParameters, #name)
  CARTPK_P(dose); CARTPK_P(Kexp_max); CARTPK_P(EC50_exp); CARTPK_P(Rm); CARTPK_P(Kel_e); CARTPK_P(Kel_m);
  CARTPK_P(K12); CARTPK_P(K21); CARTPK_P(Kkill_max); CARTPK_P(gamma_m); CARTPK_P(gamma_b); CARTPK_P(KC50);
  CARTPK_P(Kg); CARTPK_P(Kon); CARTPK_P(Koff); CARTPK_P(AgCAR); CARTPK_P(AgTumor); CARTPK_P(TransC); CARTPK_P(Vb);
  CARTPK_P(Vbm); CARTPK_P(Tumor0); CARTPK_P(Km); CARTPK_P(Pm); CARTPK_P(Kb); CARTPK_P(Pb);
#undef CARTPK_P
#define CARTPK_S(name) static constexpr int name = index_of(kStates, #name)
  CARTPK_S(Epb); CARTPK_S(Mpb); CARTPK_S(Et); CARTPK_S(Mt); CARTPK_S(Cplx); CARTPK_S(Tumor); CARTPK_S(Mprot);
  CARTPK_S(sBCMA);
#undef CARTPK_S
#define CARTPK_Y(name) static constexpr int y_##name = index_of(kObservables, #name)
  CARTPK_Y(transgene); CARTPK_Y(tumor); CARTPK_Y(mprotein); CARTPK_Y(sbcma);
#undef CARTPK_Y

  // Biomarker production at tumour burden `relative` = Tumor/Tumor0: pg/cell/day × cells/L = pg/L/day, so 1e-12
  // gives g/L/day (M-protein) and 1e-6 gives ng/mL/day (sBCMA; 1 ng/mL = 1e6 pg/L). None without a tumour.
  template <class T>
  static T burden_power(const T& relative, const T& exponent) {
    using std::pow;
    return relative > T(0.0) ? pow(relative, exponent) : T(0.0);
  }
  template <class T>
  static T mprotein_production(const T* p, const T& relative) {
    return p[Pm] * 1e-12 * p[Tumor0] * burden_power(relative, p[gamma_m]);
  }
  template <class T>
  static T sbcma_production(const T* p, const T& relative) {
    return p[Pb] * 1e-6 * p[Tumor0] * burden_power(relative, p[gamma_b]);
  }

  // The equations are the spec's for cell numbers, complexes and tumour >= 0. Far from the data they approach 0:
  // once the tumour is gone the effector pool falls below 1e-15 cells and an eradicated tumour below 1e-40
  // cells/L, and the solver may then carry a value just below 0, of the size of its absolute tolerance. Read
  // literally, such a negative effector pool "expands" away from 0 as soon as antigen returns (kexp·Et, kexp > 0:
  // seen at 1e150 cells in a virtual population) and (Tumor/Tumor0)^gamma of a negative tumour is NaN. So the
  // nonlinear rates read the states' positive parts: the same equations on x >= 0, and no state driven below 0.
  template <class T>
  static T positive_part(const T& v) {
    return v < T(0.0) ? T(0.0) : v;
  }

  // Before the dose: the tiny marrow effector pool of the Monolix code (1e-6 cells/L, which keeps complexes per
  // CAR-T cell finite), the baseline tumour, and M-protein and sBCMA at rest at Tumor = Tumor0.
  template <class T>
  static void initial_state(const T* p, T* x) {
    x[Epb] = x[Mpb] = x[Mt] = x[Cplx] = T(0.0);
    x[Et] = 1e-6 * p[Vbm];
    x[Tumor] = p[Tumor0];
    x[Mprot] = mprotein_production(p, T(1.0)) / p[Km];
    x[sBCMA] = sbcma_production(p, T(1.0)) / p[Kb];
  }

  template <class T>
  static void rhs(Regime /*regime*/, double /*t*/, const T* x, const T* p, T* f) {
    const T kon = p[Kon] * (kSecondsPerDay / kAvogadro);  // 1/M/s → 1/(complexes/L)/day
    const T koff = p[Koff] * kSecondsPerDay;              // 1/s → 1/day
    const T effectors = positive_part(x[Et]);
    const T complexes = positive_part(x[Cplx]);
    const T tumor = positive_part(x[Tumor]);
    const T conc = (effectors + positive_part(x[Mt])) / p[Vbm];  // CAR-T cells per L of marrow
    const T car_free = conc * p[AgCAR] - x[Cplx];
    const T antigen_free = tumor * p[AgTumor] - x[Cplx];
    const T per_cart = conc > T(0.0) ? complexes / conc : T(0.0);     // complexes per CAR-T cell
    const T per_tumor = tumor > T(0.0) ? complexes / tumor : T(0.0);  // complexes per tumour cell
    const T kexp = p[Kexp_max] * per_cart / (p[EC50_exp] + per_cart);
    const T kkill = p[Kkill_max] * per_tumor / (p[KC50] + per_tumor);
    const T relative = tumor / p[Tumor0];

    f[Epb] = -p[K12] * x[Epb] + p[K21] * x[Et] - p[Kel_e] * x[Epb];
    f[Mpb] = -p[K12] * x[Mpb] + p[K21] * x[Mt] - p[Kel_m] * x[Mpb];
    f[Et] = p[K12] * x[Epb] - p[K21] * x[Et] + kexp * effectors - p[Rm] * x[Et];
    f[Mt] = p[K12] * x[Mpb] - p[K21] * x[Mt] + p[Rm] * x[Et];
    f[Cplx] = kon * car_free * antigen_free - koff * x[Cplx];
    f[Tumor] = p[Kg] * tumor - kkill * tumor;
    f[Mprot] = mprotein_production(p, relative) - p[Km] * x[Mprot];
    f[sBCMA] = sbcma_production(p, relative) - p[Kb] * x[sBCMA];
  }

  template <class T>
  static void observables(double /*t*/, const T* x, const T* p, T* y) {
    y[y_transgene] = p[TransC] * (x[Epb] + x[Mpb]) / p[Vb];
    y[y_tumor] = x[Tumor];
    y[y_mprotein] = x[Mprot];
    y[y_sbcma] = x[sBCMA];
  }

  // A dose is a number of CAR+ cells into blood effectors: AMT in cells as it is (a flat dose, no weight), or a
  // fraction of the `dose` parameter (so sensitivities w.r.t. dose carry through).
  static constexpr int kDoseState = Epb;
  template <class T>
  static T dose_amount(const DoseRecord& record, const T* p) {
    return record.unit == DoseUnit::cells ? T(record.amount) : record.amount * p[dose];
  }
};

std::unique_ptr<Model> make_singh2021_idecel() { return std::make_unique<ModelAdapter<Singh2021Idecel>>(); }

}  // namespace cartpk::models
