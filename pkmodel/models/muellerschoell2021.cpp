// P3 muellerschoell2021: CD19 CAR-T (axicabtagene ciloleucel) as four phenotypes on a differentiation chain,
// naive (TN) -> central memory (TCM) -> effector memory (TEM) -> effector (TEff), expanding on contact with the
// CD19+ tumour and killing it (metabolic tumour volume, logistic growth). Equations: ../shared/spec/
// published-models.md, P3 (the paper's Equations 5-11); values: the paper's Table 1 as entered in nlmixr2lib.
//
// No dose records: the paper has no dosing event. It discounted the distribution phase after the infusion and
// started every phenotype at an imputed 0.1 cells/µL (Section 3.1.4), so here the infusion is the initial state,
// set by the parameters tn0, tcm0, tem0, teff0 (and the tumour by tum0, the patient's baseline volume): their
// sensitivities come through the same templates as every other parameter's.
// Covariates are parameters: prior_ASCT (0/1) and CD4CD8_ratio (day-7 CD4+/CD8+ CAR-T ratio). The paper's
// two-class mixture on the maximal expansion rate is the preset low_expansion (Vmax1_ref = Vmax1,base,low and no
// CD4/CD8 effect, Equation 11) beside reference (Equation 10, the defaults).
#include <array>
#include <cmath>
#include <memory>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

namespace {
constexpr std::string_view kTable1 =
    "Mueller-Schoell et al. 2021, Table 1 (nlmixr2lib MuellerSchoell_2021_axicabtageneCiloleucel_qsp)";
constexpr std::string_view kFixedStein =
    "Mueller-Schoell et al. 2021, Table 1: fixed, 0.02 x ke4 (long-/short-lived death-rate ratio of Stein 2019)";
constexpr std::string_view kFixedLiterature =
    "Mueller-Schoell et al. 2021, Table 1: fixed to literature (homeostatic proliferation, ref. 47)";
constexpr std::string_view kFixedKilling =
    "Mueller-Schoell et al. 2021, Table 1: fixed, from Vmax5 (TCM) and in-vitro killing-capacity ratios (ref. 49)";
constexpr std::string_view kFixedTumour =
    "Mueller-Schoell et al. 2021, Table 1: fixed (not identifiable: tumour data only under CAR-T)";
constexpr std::string_view kImputed =
    "Mueller-Schoell et al. 2021, Section 3.1.4: imputed initial level per phenotype (nlmixr2lib init_cart)";
}  // namespace

struct MuellerSchoell2021 {
  static constexpr std::string_view kName = "muellerschoell2021";
  static constexpr std::string_view kSource =
      "Mueller-Schoell A et al., Cancers 2021;13(11):2782, Eq. 5-11 and Table 1 "
      "(nlmixr2lib MuellerSchoell_2021_axicabtageneCiloleucel_qsp)";
  static constexpr std::string_view kDescription =
      "CD19 CAR-T phenotypes TN/TCM/TEM/TEff expanding on and killing CD19+ tumour (metabolic volume), "
      "axicabtagene ciloleucel in LBCL (Mueller-Schoell 2021 QSP)";

  static constexpr std::array<ParameterSpec, 28> kParameters{{
      // Expansion on tumour contact: vmax1 = Vmax1_ref·(1 + asct_effect·prior_ASCT)·CD4CD8_ratio^cd4cd8_exp.
      {"Vmax1_ref", "(cells/µL)/day/mL", 0.00846, 1e-6, 10.0, Domain::positive,
       "maximal expansion rate per mL tumour, reference class (Vmax1,base,ref; low class: preset low_expansion)",
       kTable1, 1.17865},
      {"asct_effect", "-", 2.53, 0.0, 50.0, Domain::nonnegative,
       "fractional change of the expansion rate after a prior ASCT (ASCTVmax1)", kTable1},
      {"cd4cd8_exp", "-", -0.385, -5.0, 5.0, Domain::real,
       "exponent of the day-7 CD4+/CD8+ CAR-T ratio on the expansion rate (0 in the low-expansion class)", kTable1},
      {"prior_ASCT", "-", 0.0, 0.0, 1.0, Domain::nonnegative,
       "covariate: prior autologous stem-cell transplant (1) or not (0)",
       "Mueller-Schoell et al. 2021: reference covariate value (no prior ASCT; 7 of 19 patients had one)"},
      {"CD4CD8_ratio", "-", 1.0, 0.01, 100.0, Domain::positive,
       "covariate: ratio of CD4+ to CD8+ CAR-T cells at day 7 (reference 1; cohort 0.05-8.9)",
       "Mueller-Schoell et al. 2021: covariate referenced to a ratio of 1 (Supplementary Table S1 range)"},
      {"KM1", "cells/µL", 1.13, 1e-3, 1e3, Domain::positive, "phenotype level at half-maximal expansion (TN, TCM, TEM)",
       kTable1},
      {"k12", "1/day", 0.140, 1e-4, 10.0, Domain::positive, "differentiation TN -> TCM", kTable1},
      {"k23", "1/day", 0.191, 1e-4, 10.0, Domain::positive, "differentiation TCM -> TEM", kTable1},
      {"k34", "1/day", 0.355, 1e-4, 10.0, Domain::positive, "differentiation TEM -> TEff", kTable1},
      {"ke1", "1/day", 0.0104, 0.0, 1.0, Domain::nonnegative, "death of TN", kFixedStein},
      {"ke2", "1/day", 0.0104, 0.0, 1.0, Domain::nonnegative, "death of TCM", kFixedStein},
      {"ke3", "1/day", 0.0104, 0.0, 1.0, Domain::nonnegative, "death of TEM", kFixedStein},
      {"ke4", "1/day", 0.518, 1e-4, 10.0, Domain::positive, "death of TEff", kTable1},
      {"kp1", "1/day", 0.0005, 0.0, 1.0, Domain::nonnegative, "homeostatic proliferation of TN", kFixedLiterature},
      {"kp2", "1/day", 0.007, 0.0, 1.0, Domain::nonnegative, "homeostatic proliferation of TCM", kFixedLiterature},
      {"kp3", "1/day", 0.007, 0.0, 1.0, Domain::nonnegative, "homeostatic proliferation of TEM", kFixedLiterature},
      // Tumour killing by each phenotype: Vmax5·T·Tum/(KM5 + Tum), Vmax5 in mL/day per cell/µL.
      {"Vmax5_TN", "mL/day/(cells/µL)", 2.57, 0.0, 1e4, Domain::nonnegative, "maximal tumour killing by TN",
       kFixedKilling},
      {"Vmax5_TCM", "mL/day/(cells/µL)", 4.04, 1e-4, 1e5, Domain::positive, "maximal tumour killing by TCM",
       kTable1, 2.3442},
      {"Vmax5_TEM", "mL/day/(cells/µL)", 3.78, 0.0, 1e4, Domain::nonnegative, "maximal tumour killing by TEM",
       kFixedKilling},
      {"Vmax5_TEff", "mL/day/(cells/µL)", 4.24, 0.0, 1e4, Domain::nonnegative, "maximal tumour killing by TEff",
       kFixedKilling},
      {"KM5", "mL", 276.0, 1e-2, 1e5, Domain::positive, "tumour volume at half-maximal killing", kTable1},
      {"k5", "1/day", 0.0023, 0.0, 1.0, Domain::nonnegative, "tumour growth rate (logistic)", kFixedTumour},
      {"K0", "mL", 5000.0, 1.0, 1e6, Domain::positive, "maximal tumour volume (logistic capacity)", kFixedTumour},
      // Initial values (the infusion, and the patient's baseline tumour).
      {"tn0", "cells/µL", 0.1, 0.0, 1e3, Domain::nonnegative, "TN at t = 0", kImputed},
      {"tcm0", "cells/µL", 0.1, 0.0, 1e3, Domain::nonnegative, "TCM at t = 0", kImputed},
      {"tem0", "cells/µL", 0.1, 0.0, 1e3, Domain::nonnegative, "TEM at t = 0", kImputed},
      {"teff0", "cells/µL", 0.1, 0.0, 1e3, Domain::nonnegative, "TEff at t = 0", kImputed},
      {"tum0", "mL", 85.7, 0.0, 1e4, Domain::nonnegative, "baseline CD19+ metabolic tumour volume (covariate)",
       "Mueller-Schoell et al. 2021, Supplementary Table S1: cohort median 85.7 mL (range 2.54-3555)"},
  }};

  static constexpr std::array<VariableSpec, 5> kStates{{
      {"TN", "cells/µL", "naive CAR-T cells in blood", 1.0},
      {"TCM", "cells/µL", "central-memory CAR-T cells in blood", 1.0},
      {"TEM", "cells/µL", "effector-memory CAR-T cells in blood", 1.0},
      {"TEff", "cells/µL", "effector CAR-T cells in blood", 1.0},
      {"Tum", "mL", "CD19+ metabolic tumour volume", 100.0},
  }};

  static constexpr std::array<VariableSpec, 6> kObservables{{
      {"tn", "cells/µL", "naive CAR-T cells per µL blood"},
      {"tcm", "cells/µL", "central-memory CAR-T cells per µL blood"},
      {"tem", "cells/µL", "effector-memory CAR-T cells per µL blood"},
      {"teff", "cells/µL", "effector CAR-T cells per µL blood"},
      {"cart", "cells/µL", "CAR-T cells per µL blood, all phenotypes (TN + TCM + TEM + TEff)", 1.0, Role::car_t},
      {"tumor", "mL", "CD19+ metabolic tumour volume", 1.0, Role::tumor},
  }};

  // The structural parameters the paper estimated (Table 1) that one patient's phenotype and tumour data inform;
  // its covariate effects (asct_effect, cd4cd8_exp) are population-level and stay fixed in a per-patient fit.
  static constexpr std::array<std::string_view, 8> kDefaultEstimated{"Vmax1_ref", "KM1", "k12", "k23",
                                                                     "k34",       "ke4", "Vmax5_TCM", "KM5"};

  // The paper's two-class mixture on the maximal expansion rate (Equations 10 and 11; 80.3 % reference class).
  static constexpr std::array<Preset, 2> kPresets{{
      {"reference", "reference-expansion class (default, Eq. 10): Vmax1,base,ref with the CD4/CD8 effect",
       {{{"Vmax1_ref", 0.00846}, {"cd4cd8_exp", -0.385}}}},
      {"low_expansion", "low-expansion class (Eq. 11, 4 of 19 patients): Vmax1,base,low, no CD4/CD8 effect",
       {{{"Vmax1_ref", 0.000700}, {"cd4cd8_exp", 0.0}}}},
  }};

#define CARTPK_P(name) static constexpr int name = index_of(kParameters, #name)
  CARTPK_P(Vmax1_ref); CARTPK_P(asct_effect); CARTPK_P(cd4cd8_exp); CARTPK_P(prior_ASCT); CARTPK_P(CD4CD8_ratio);
  CARTPK_P(KM1); CARTPK_P(k12); CARTPK_P(k23); CARTPK_P(k34); CARTPK_P(ke1); CARTPK_P(ke2); CARTPK_P(ke3);
  CARTPK_P(ke4); CARTPK_P(kp1); CARTPK_P(kp2); CARTPK_P(kp3); CARTPK_P(Vmax5_TN); CARTPK_P(Vmax5_TCM);
  CARTPK_P(Vmax5_TEM); CARTPK_P(Vmax5_TEff); CARTPK_P(KM5); CARTPK_P(k5); CARTPK_P(K0); CARTPK_P(tn0);
  CARTPK_P(tcm0); CARTPK_P(tem0); CARTPK_P(teff0); CARTPK_P(tum0);
#undef CARTPK_P
#define CARTPK_S(name) static constexpr int name = index_of(kStates, #name)
  CARTPK_S(TN); CARTPK_S(TCM); CARTPK_S(TEM); CARTPK_S(TEff); CARTPK_S(Tum);
#undef CARTPK_S
#define CARTPK_Y(name) static constexpr int y_##name = index_of(kObservables, #name)
  CARTPK_Y(tn); CARTPK_Y(tcm); CARTPK_Y(tem); CARTPK_Y(teff); CARTPK_Y(cart); CARTPK_Y(tumor);
#undef CARTPK_Y

  // The infusion as the paper imputes it (each phenotype at its initial level) and the baseline tumour.
  template <class T>
  static void initial_state(const T* p, T* x) {
    x[TN] = p[tn0];
    x[TCM] = p[tcm0];
    x[TEM] = p[tem0];
    x[TEff] = p[teff0];
    x[Tum] = p[tum0];
  }

  template <class T>
  static void rhs(Regime /*regime*/, double /*t*/, const T* x, const T* p, T* f) {
    using std::pow;
    const T vmax1 = p[Vmax1_ref] * (1.0 + p[asct_effect] * p[prior_ASCT]) * pow(p[CD4CD8_ratio], p[cd4cd8_exp]);
    const T drive = vmax1 * x[Tum];  // maximal expansion at this tumour volume, cells/µL/day
    const T killers = p[Vmax5_TN] * x[TN] + p[Vmax5_TCM] * x[TCM] + p[Vmax5_TEM] * x[TEM] + p[Vmax5_TEff] * x[TEff];

    f[TN] = drive * x[TN] / (p[KM1] + x[TN]) + p[kp1] * x[TN] - p[k12] * x[TN] - p[ke1] * x[TN];
    f[TCM] = drive * x[TCM] / (p[KM1] + x[TCM]) + p[kp2] * x[TCM] + p[k12] * x[TN] - p[k23] * x[TCM] -
             p[ke2] * x[TCM];
    f[TEM] = drive * x[TEM] / (p[KM1] + x[TEM]) + p[kp3] * x[TEM] + p[k23] * x[TCM] - p[k34] * x[TEM] -
             p[ke3] * x[TEM];
    f[TEff] = p[k34] * x[TEM] - p[ke4] * x[TEff];
    f[Tum] = p[k5] * (1.0 - x[Tum] / p[K0]) * x[Tum] - killers * x[Tum] / (p[KM5] + x[Tum]);
  }

  template <class T>
  static void observables(double /*t*/, const T* x, const T* /*p*/, T* y) {
    y[y_tn] = x[TN];
    y[y_tcm] = x[TCM];
    y[y_tem] = x[TEM];
    y[y_teff] = x[TEff];
    y[y_cart] = x[TN] + x[TCM] + x[TEM] + x[TEff];
    y[y_tumor] = x[Tum];
  }
};

std::unique_ptr<Model> make_muellerschoell2021() { return std::make_unique<ModelAdapter<MuellerSchoell2021>>(); }

}  // namespace cartpk::models
