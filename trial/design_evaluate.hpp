#pragma once
// Exact operating characteristics of a two-stage design with a toxicity stop after stage 1 and a responder
// count at the end (the registered trial's design is n1 = 8, n = 24, stop if > 5 toxicities in stage 1,
// success with >= 4 responders). Patients are independent; within a patient response and toxicity are joint
// Bernoulli with given marginals and odds ratio (trial/joint_outcomes.hpp). Computed over the joint counts of
// each stage, not by simulation.
#include <optional>

namespace cartpk::trial {

enum class RespondersFrom { all, stage2 };

struct ToxicityStopDesign {
  int n1 = 0;                    // stage-1 size, >= 1
  int n = 0;                     // total size, > n1
  int max_tox_stage1 = 0;        // stop after stage 1 if toxicities > this
  int min_responders = 0;        // success needs at least this many responders ...
  RespondersFrom responders_from = RespondersFrom::all;  // ... counted over all n, or over stage 2 only
  std::optional<int> max_tox_final;  // and, when given, at most this many toxicities over all n
};

struct OperatingCharacteristics {
  double p_stop_stage1 = 0.0;        // P(toxicities in stage 1 > max_tox_stage1)
  double p_success = 0.0;            // P(stage 2 runs and the success rule holds)
  double expected_n = 0.0;           // n1 + (n - n1) (1 - p_stop_stage1)
  double expected_toxicities = 0.0;  // p_tox (n1 + (n - n1)(1 - p_stop_stage1))
};

// std::invalid_argument on a malformed design (n1 < 1, n <= n1, negative thresholds) or rates outside [0, 1],
// odds ratio <= 0.
OperatingCharacteristics evaluate_design(const ToxicityStopDesign& design, double p_resp, double p_tox,
                                         double odds_ratio);

struct JointCells;  // trial/joint_outcomes.hpp
// The same for a patient's joint response/toxicity cells given directly (e.g. a virtual population's, where a
// cell can be 0 and the odds ratio undefined); the cells must be >= 0 and sum to 1 within 1e-9.
OperatingCharacteristics evaluate_design(const ToxicityStopDesign& design, const JointCells& cells);

}  // namespace cartpk::trial
