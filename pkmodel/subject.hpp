#pragma once
// One subject's records: doses, observations (possibly censored), covariates. Produced by io's dataset
// reader or by simulation; consumed by fitting.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "pkmodel/model.hpp"

namespace cartpk {

struct Observation {
  double time_day = 0.0;
  int observable = 0;          // index into the list of observable names the records were read with
  double value = 0.0;          // DV; for a censored record, the quantification limit
  bool censored = false;       // CENS = 1: below the limit of quantification (M3)
  double lloq = std::nan("");  // the record's LLOQ when given
  int line = 0;                // source line (0 when not from a file)
};

struct SubjectDose {
  DoseRecord dose;  // amount in cells; weight from WT (NaN when unknown)
  int line = 0;
};

struct Subject {
  std::string id;
  int first_line = 0;
  std::vector<SubjectDose> doses;
  std::vector<Observation> observations;
  std::map<std::string, double> covariates;  // first non-missing value of each numeric covariate column
  std::map<std::string, std::string> categorical;  // likewise for text covariates (SEX = M/F, product names)
};

}  // namespace cartpk
