// P1 hardiansyah2019: quantitative systems pharmacology model of CD19 CAR-T therapy (Hardiansyah & Ng 2019):
// effector and memory CAR-T cells in blood and tissue, B-cell killing, and IL-6, IL-10 and IFN-γ release, fitted
// to patient UPN3 of Kalos et al. 2011 (CLL). Equations: ../shared/spec/published-models.md, P1.
// Units: cells in 10⁹ cells, cytokines in pg/mL, time in days. Doses are dose records into CEpb (10⁹ cells).
//
//   fB     = B / (B + h)
//   B'     = rB·B − dB·B − KBC·CEpb·B
//   CEpb'  = rE·CEpb·B − dE·CEpb − kin·CEpb + kout·CEt − aE·CEpb·(1 − fB) + aM·CMpb·fB
//   CEt'   = kin·CEpb − kout·CEt
//   CMpb'  = rM·CMpb − dM·CMpb − kin·CMpb + kout·CMt + aE·CEpb·(1 − fB) − aM·CMpb·fB
//   CMt'   = kin·CMpb − kout·CMt
//   IL6'   = kIL6·bIL6 + pIL6·10⁶·B·CEpb − kIL6·IL6            (IL10 likewise, with its own parameters)
//   IFNg'  = kIFNg·bIFNg + pIFNg·10⁶·B·CEpb·(aG + (1 − aG)·bG/(IL10 + bG)) − kIFNg·IFNg
//
// The paper prints CMpb where CEpb belongs in the aE term (effector-to-memory conversion); nlmixr2lib's model file
// notes this and uses CEpb, as the spec and this file do (the conversion then conserves cells: what leaves CEpb
// enters CMpb).
#include <array>
#include <memory>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

namespace {
// The paper's tables were not at hand: values as the cartpk spec (P1) transcribes the paper; the table a value
// comes from is not stated there, so none is named here.
constexpr std::string_view kPaper = "Hardiansyah & Ng, Clin Transl Sci 2019;12:343-349: fixed value (spec P1)";
constexpr std::string_view kUpn3 = "Hardiansyah & Ng 2019: estimated for patient UPN3 (spec P1)";
constexpr std::string_view kBaseline = "Hardiansyah & Ng 2019: UPN3 baseline (spec P1)";
}  // namespace

struct Hardiansyah2019 {
  static constexpr std::string_view kName = "hardiansyah2019";
  static constexpr std::string_view kSource =
      "Hardiansyah D, Ng CM. Quantitative systems pharmacology model of chimeric antigen receptor T-cell therapy. "
      "Clin Transl Sci 2019;12(4):343-349 (patient UPN3 of Kalos et al. 2011); aE term as in nlmixr2lib's model "
      "file; cartpk spec P1 (shared/spec/published-models.md)";
  static constexpr std::string_view kDescription =
      "QSP model of CD19 CAR-T (Hardiansyah & Ng 2019): effector/memory CAR-T in blood and tissue, B-cell "
      "killing, IL-6, IL-10 and IFN-gamma release (CRS markers); cells in 1e9 cells, cytokines in pg/mL";

  // No inter-individual variability is published for this model (one patient, UPN3, was fitted): every
  // iiv_omega2 is 0; examples/iiv_hardiansyah2019.toml states assumed ones for virtual populations.
  static constexpr std::array<ParameterSpec, 25> kParameters{{
      // Dosing
      {"dose", "cells", 1.4e7, 1e5, 1e10, Domain::positive,
       "total CAR-T dose; a dose record's fraction is a fraction of it (UPN3: 10/30/60 % on days 0/1/2)",
       "Kalos et al. 2011 / Hardiansyah & Ng 2019: UPN3 received 1.4e7 CAR-T cells in total"},
      // B cells
      {"b0", "1e9 cells", 0.93, 0.01, 100.0, Domain::positive, "B cells (tumour + normal CD19+) at t = 0",
       kBaseline},
      {"rB", "1/day", 0.0093, 0.0, 0.1, Domain::nonnegative, "B-cell proliferation rate", kPaper},
      {"dB", "1/day", 0.0076, 0.0, 0.1, Domain::nonnegative, "B-cell death rate", kPaper},
      {"KBC", "1/(1e9 cells·day)", 2.21, 0.221, 22.1, Domain::positive,
       "B-cell killing rate per effector CAR-T cell in blood", kUpn3},
      {"h", "1e9 cells", 1e5, 1e-5, 1e7, Domain::positive,
       "B cells for half-maximal antigen signal fB = B/(B + h) (memory/effector switching)", kPaper},
      // Effector CAR-T
      {"rE", "1/(1e9 cells·day)", 14.40, 1.44, 144.0, Domain::positive,
       "antigen-driven effector proliferation per B cell", kUpn3},
      {"dE", "1/day", 1.44, 0.144, 14.4, Domain::positive, "effector CAR-T death rate", kUpn3},
      {"aE", "1/day", 0.12, 0.012, 1.2, Domain::positive,
       "effector to memory conversion rate (scaled by 1 - fB, low antigen)", kUpn3},
      // Memory CAR-T
      {"rM", "1/day", 0.0509, 0.0, 0.5, Domain::nonnegative, "memory CAR-T proliferation rate", kPaper},
      {"dM", "1/day", 0.408, 0.04, 4.0, Domain::positive, "memory CAR-T death rate", kPaper},
      {"aM", "1/day", 1.0, 0.0, 10.0, Domain::nonnegative,
       "memory to effector conversion rate (scaled by fB, antigen present)", kPaper},
      // Blood-tissue distribution (both phenotypes)
      {"kin", "1/day", 76.78, 7.678, 767.8, Domain::positive, "CAR-T transfer rate from blood to tissue", kPaper},
      {"kout", "1/day", 1.84, 0.184, 18.4, Domain::positive, "CAR-T transfer rate from tissue to blood", kPaper},
      // Cytokines
      {"pIL6", "1e-6 pg/mL/(day·(1e9 cells)^2)", 0.006, 0.0006, 0.06, Domain::positive,
       "IL-6 release per B cell x effector CAR-T encounter (x 1e6 in the equation)", kUpn3},
      {"kIL6", "1/day", 3.96, 0.396, 39.6, Domain::positive, "IL-6 elimination rate", kPaper},
      {"bIL6", "pg/mL", 1.0, 0.01, 100.0, Domain::positive, "IL-6 baseline", kBaseline},
      {"pIL10", "1e-6 pg/mL/(day·(1e9 cells)^2)", 0.017, 0.0017, 0.17, Domain::positive,
       "IL-10 release per B cell x effector CAR-T encounter (x 1e6 in the equation)", kUpn3},
      {"kIL10", "1/day", 4.68, 0.468, 46.8, Domain::positive, "IL-10 elimination rate", kPaper},
      {"bIL10", "pg/mL", 0.5, 0.005, 50.0, Domain::positive, "IL-10 baseline", kBaseline},
      {"pIFNg", "1e-6 pg/mL/(day·(1e9 cells)^2)", 0.006, 0.0006, 0.06, Domain::positive,
       "IFN-gamma release per B cell x effector CAR-T encounter (x 1e6 in the equation)", kUpn3},
      {"kIFNg", "1/day", 1.51, 0.151, 15.1, Domain::positive, "IFN-gamma elimination rate", kPaper},
      {"bIFNg", "pg/mL", 1.7, 0.017, 170.0, Domain::positive, "IFN-gamma baseline", kBaseline},
      {"aG", "-", 0.59, 0.0, 1.0, Domain::fraction, "IFN-gamma release not suppressible by IL-10", kPaper},
      {"bG", "pg/mL", 650.0, 65.0, 6500.0, Domain::positive, "IL-10 level halving the suppressible IFN-gamma release",
       kPaper},
  }};

  static constexpr std::array<VariableSpec, 8> kStates{{
      {"B", "1e9 cells", "B cells (CD19+ tumour and normal)", 1.0},
      {"CEpb", "1e9 cells", "effector CAR-T cells in peripheral blood", 1e-2},
      {"CEt", "1e9 cells", "effector CAR-T cells in tissue", 1e-1},
      {"CMpb", "1e9 cells", "memory CAR-T cells in peripheral blood", 1e-2},
      {"CMt", "1e9 cells", "memory CAR-T cells in tissue", 1e-1},
      {"IL6", "pg/mL", "IL-6 in serum", 1.0},
      {"IL10", "pg/mL", "IL-10 in serum", 1.0},
      {"IFNg", "pg/mL", "IFN-gamma in serum", 1.0},
  }};

  static constexpr std::array<VariableSpec, 5> kObservables{{
      {"bcell", "1e9 cells", "B cells (B)", 1.0, Role::b_cells},
      {"cart_blood", "1e9 cells", "CAR-T cells in blood, effector + memory (CEpb + CMpb)", 1.0, Role::car_t},
      {"il6", "pg/mL", "serum IL-6 (a CRS marker)", 1.0, Role::cytokine},
      {"il10", "pg/mL", "serum IL-10", 1.0, Role::cytokine},
      {"ifng", "pg/mL", "serum IFN-gamma", 1.0, Role::cytokine},
  }};

  // What Hardiansyah & Ng estimated from UPN3's data (Table 2); the rest they fixed.
  static constexpr std::array<std::string_view, 7> kDefaultEstimated{"pIL6", "pIL10", "pIFNg", "rE", "dE", "aE", "KBC"};

#define CARTPK_P(name) static constexpr int name = index_of(kParameters, #name)
  CARTPK_P(dose); CARTPK_P(b0); CARTPK_P(rB); CARTPK_P(dB); CARTPK_P(KBC); CARTPK_P(h); CARTPK_P(rE);
  CARTPK_P(dE); CARTPK_P(aE); CARTPK_P(rM); CARTPK_P(dM); CARTPK_P(aM); CARTPK_P(kin); CARTPK_P(kout);
  CARTPK_P(pIL6); CARTPK_P(kIL6); CARTPK_P(bIL6); CARTPK_P(pIL10); CARTPK_P(kIL10); CARTPK_P(bIL10);
  CARTPK_P(pIFNg); CARTPK_P(kIFNg); CARTPK_P(bIFNg); CARTPK_P(aG); CARTPK_P(bG);
#undef CARTPK_P
#define CARTPK_S(name) static constexpr int name = index_of(kStates, #name)
  CARTPK_S(B); CARTPK_S(CEpb); CARTPK_S(CEt); CARTPK_S(CMpb); CARTPK_S(CMt); CARTPK_S(IL6); CARTPK_S(IL10);
  CARTPK_S(IFNg);
#undef CARTPK_S
#define CARTPK_Y(name) static constexpr int y_##name = index_of(kObservables, #name)
  CARTPK_Y(bcell); CARTPK_Y(cart_blood); CARTPK_Y(il6); CARTPK_Y(il10); CARTPK_Y(ifng);
#undef CARTPK_Y

  static constexpr double kPerMillion = 1e6;  // the equations' release scale: p·1e6·B·CEpb

  // Before the first dose: B cells and cytokines at baseline, no CAR-T.
  template <class T>
  static void initial_state(const T* p, T* x) {
    x[B] = p[b0];
    x[CEpb] = x[CEt] = x[CMpb] = x[CMt] = T(0.0);
    x[IL6] = p[bIL6];
    x[IL10] = p[bIL10];
    x[IFNg] = p[bIFNg];
  }

  template <class T>
  static void rhs(Regime /*regime*/, double /*t*/, const T* x, const T* p, T* f) {
    const T fB = x[B] / (x[B] + p[h]);
    const T to_memory = p[aE] * x[CEpb] * (1.0 - fB);  // effector -> memory when antigen is scarce
    const T to_effector = p[aM] * x[CMpb] * fB;         // memory -> effector when antigen is present
    const T encounters = kPerMillion * x[B] * x[CEpb];  // drives cytokine release
    const T ifng_release = p[aG] + (1.0 - p[aG]) * p[bG] / (x[IL10] + p[bG]);

    f[B] = p[rB] * x[B] - p[dB] * x[B] - p[KBC] * x[CEpb] * x[B];
    f[CEpb] = p[rE] * x[CEpb] * x[B] - p[dE] * x[CEpb] - p[kin] * x[CEpb] + p[kout] * x[CEt] - to_memory + to_effector;
    f[CEt] = p[kin] * x[CEpb] - p[kout] * x[CEt];
    f[CMpb] = p[rM] * x[CMpb] - p[dM] * x[CMpb] - p[kin] * x[CMpb] + p[kout] * x[CMt] + to_memory - to_effector;
    f[CMt] = p[kin] * x[CMpb] - p[kout] * x[CMt];
    f[IL6] = p[kIL6] * p[bIL6] + p[pIL6] * encounters - p[kIL6] * x[IL6];
    f[IL10] = p[kIL10] * p[bIL10] + p[pIL10] * encounters - p[kIL10] * x[IL10];
    f[IFNg] = p[kIFNg] * p[bIFNg] + p[pIFNg] * encounters * ifng_release - p[kIFNg] * x[IFNg];
  }

  template <class T>
  static void observables(double /*t*/, const T* x, const T* /*p*/, T* y) {
    y[y_bcell] = x[B];
    y[y_cart_blood] = x[CEpb] + x[CMpb];
    y[y_il6] = x[IL6];
    y[y_il10] = x[IL10];
    y[y_ifng] = x[IFNg];
  }

  // A dose enters effector CAR-T in blood, in 1e9 cells: AMT in cells, or a fraction of the `dose` parameter
  // (so `--doses 0:0.1,1:0.3,2:0.6` is UPN3's split infusion, with sensitivities w.r.t. dose carried through).
  static constexpr int kDoseState = CEpb;
  static constexpr double kCellsPerUnit = 1e9;
  template <class T>
  static T dose_amount(const DoseRecord& record, const T* p) {
    if (record.unit == DoseUnit::cells) return T(record.amount / kCellsPerUnit);
    return record.amount * p[dose] / kCellsPerUnit;
  }
};

std::unique_ptr<Model> make_hardiansyah2019() { return std::make_unique<ModelAdapter<Hardiansyah2019>>(); }

}  // namespace cartpk::models
