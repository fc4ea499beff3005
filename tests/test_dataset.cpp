// The NONMEM-style dataset reader: what it accepts, and one test per defect class with the message naming
// file, line, column and what was expected. Plus: dose records from a dataset equal the same dose by flags.
#include <doctest/doctest.h>

#include "io/dataset.hpp"
#include "pkmodel/errors.hpp"
#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"
#include "reference_checks.hpp"

using namespace cartpk;

namespace {
io::DatasetOptions m2_options() {
  io::DatasetOptions options;
  for (const char* o : {"flow", "qpcr", "bcell", "plasma", "autoab", "hb"}) options.observables.emplace_back(o);
  options.dvid_map = {{"1", "qpcr"}, {"2", "flow"}};
  return options;
}
io::Dataset parse(const std::string& text, io::DatasetOptions options = m2_options()) {
  return io::parse_dataset(text, "data.csv", options);
}
const std::string kHeader = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,LLOQ,WT,AGE\n";
}  // namespace

TEST_CASE("dataset: BOM, CRLF, quotes, comments, '.' for missing, covariates, M3 records and numeric DVIDs") {
  const std::string text = "\xEF\xBB\xBF" "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,LLOQ,WT,AGE\r\n"
                           "# a comment line\r\n"
                           "\"101\",0,1,70000000,.,.,0,1,.,70,54\r\n"
                           "101,7,0,.,3500,1,0,0,50,70,54\r\n"
                           "101,7,0,.,11.2,2,0,0,.,70,54\r\n"
                           "101,180,0,.,50,qpcr,1,0,.,70,54\r\n"
                           "102,0,1,5.6e7,.,.,0,1,.,56,61\r\n"
                           "102,14,0,.,20,\"bcell\",0,0,.,56,61\r\n";
  const auto data = parse(text);
  REQUIRE(data.subjects.size() == 2);
  const auto& s = data.subjects[0];
  CHECK(s.id == "101");
  REQUIRE(s.doses.size() == 1);
  CHECK(s.doses[0].dose.amount == 7e7);
  CHECK(s.doses[0].dose.weight_kg == 70.0);
  REQUIRE(s.observations.size() == 3);
  CHECK(data.observables[static_cast<std::size_t>(s.observations[0].observable)] == "qpcr");
  CHECK(s.observations[0].lloq == 50.0);
  CHECK(data.observables[static_cast<std::size_t>(s.observations[1].observable)] == "flow");
  CHECK(s.observations[2].censored);
  CHECK(s.observations[2].value == 50.0);
  CHECK(s.observations[2].line == 6);
  CHECK(s.covariates.at("AGE") == 54.0);
  CHECK(data.subjects[1].observations[0].value == 20.0);
  CHECK(data.covariate_names == std::vector<std::string>{"WT", "AGE"});
}

TEST_CASE("dataset: warnings for an observation at the dose time and for BLQ above later quantified values") {
  const auto data = parse(kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,0,0,.,0.1,flow,0,0,.,70,50\n"
                                    "1,5,0,.,100,qpcr,1,0,.,70,50\n1,9,0,.,60,qpcr,0,0,.,70,50\n");
  REQUIRE(data.warnings.size() == 2);
  CHECK(data.warnings[0].find("data.csv:3: observation at exactly the dose time") != std::string::npos);
  CHECK(data.warnings[1].find("data.csv:4: BLQ record with limit 100 above the quantified value 60") != std::string::npos);
}

TEST_CASE("dataset: warnings for a quantified value below its LLOQ, an all-BLQ observable, a changing covariate "
          "and times beyond ten years") {
  const auto data = parse(kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,2,0,.,30,qpcr,0,0,50,70,50\n"
                                    "1,4000,0,.,3,flow,0,0,.,72,50\n"
                                    "2,0,1,7e7,.,.,0,1,.,80,60\n2,5,0,.,50,qpcr,1,0,.,80,60\n2,9,0,.,50,qpcr,1,0,.,80,60\n");
  REQUIRE(data.warnings.size() == 4);
  CHECK(data.warnings[0].find("data.csv:4: TIME 4000 is beyond 10 years") != std::string::npos);
  CHECK(data.warnings[1].find("data.csv:4: covariate WT of subject 1 changes from 70 to 72") != std::string::npos);
  CHECK(data.warnings[2].find("data.csv:3: quantified value 30 is below its LLOQ 50 with CENS = 0") != std::string::npos);
  CHECK(data.warnings[3].find("data.csv:5: all 2 qpcr records of subject 2 are below the quantification limit") !=
        std::string::npos);
  CHECK(data.subjects[0].covariates.at("WT") == 70.0);  // the first value
}

TEST_CASE("dataset defects: each is an InputError naming file, line, column, value and expectation") {
  const struct {
    const char* what;
    std::string text;
    const char* message;
  } cases[] = {
      {"empty file", "", "data.csv: the file is empty"},
      {"header only", kHeader, "data.csv:1: header only"},
      {"missing required column", "ID,TIME,EVID,AMT,DVID\n1,0,1,7e7,.\n", "missing required column(s) DV"},
      {"ragged row", kHeader + "1,0,1,7e7,.,.,0,1,.,70\n", "data.csv:2: 10 fields, expected 11"},
      {"non-numeric", kHeader + "1,abc,1,7e7,.,.,0,1,.,70,50\n", "data.csv:2: column TIME: found 'abc'"},
      {"NaN", kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,3,0,.,nan,flow,0,0,.,70,50\n", "data.csv:3: column DV: found 'nan', expected a finite number"},
      {"inf", kHeader + "1,0,1,inf,.,.,0,1,.,70,50\n", "column AMT: found 'inf'"},
      {"1e400", kHeader + "1,0,1,7e7,.,.,0,1,.,1e400,50\n", "column WT: found '1e400', expected a finite number"},
      {"negative time", kHeader + "1,-1,1,7e7,.,.,0,1,.,70,50\n", "column TIME: found '-1', expected a time in days >= 0"},
      {"non-monotone time", kHeader + "1,5,0,.,1,flow,0,0,.,70,50\n1,3,0,.,1,flow,0,0,.,70,50\n", "data.csv:3: column TIME: found '3', expected times in non-decreasing order"},
      {"duplicate observation", kHeader + "1,3,0,.,1,flow,0,0,.,70,50\n1,3,0,.,2,flow,0,0,.,70,50\n", "data.csv:3: duplicate observation"},
      {"duplicate dose", kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,0,1,7e7,.,.,0,1,.,70,50\n1,3,0,.,1,flow,0,0,.,70,50\n", "data.csv:3: duplicate dose"},
      {"EVID out of range", kHeader + "1,0,4,7e7,.,.,0,1,.,70,50\n", "column EVID: found '4', expected 0 or 1"},
      {"MDV out of range", kHeader + "1,3,0,.,1,flow,0,2,.,70,50\n", "column MDV: found '2', expected 0 or 1"},
      {"CENS out of range", kHeader + "1,3,0,.,1,flow,-1,0,.,70,50\n", "column CENS: found '-1', expected 0 or 1"},
      {"CENS without LLOQ", kHeader + "1,3,0,.,.,flow,1,0,.,70,50\n", "data.csv:2: column DV: found '.', expected the quantification limit"},
      {"AMT <= 0 on a dose", kHeader + "1,0,1,0,.,.,0,1,.,70,50\n", "column AMT: found '0', expected a dose in cells > 0"},
      {"unknown DVID", kHeader + "1,3,0,.,1,cd4,0,0,.,70,50\n", "column DVID: found 'cd4', expected an observable"},
      {"no observations", kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n", "data.csv:2: subject 1 has no observations"},
      {"non-contiguous subject", kHeader + "1,3,0,.,1,flow,0,0,.,70,50\n2,3,0,.,1,flow,0,0,.,70,50\n1,4,0,.,1,flow,0,0,.,70,50\n", "data.csv:4: records of subject 1 are not contiguous"},
      {"missing ID", kHeader + ".,3,0,.,1,flow,0,0,.,70,50\n", "column ID: found '.', expected a subject identifier"},
      {"unterminated quote", kHeader + "\"1,3,0,.,1,flow,0,0,.,70,50\n", "data.csv:2: unterminated quoted field"},
      {"duplicate column", "ID,TIME,DV,DV,DVID\n1,0,1,1,flow\n", "column DV: found 'DV', expected each column name once"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK_THROWS_WITH_AS(parse(c.text), doctest::Contains(c.message), InputError);
  }
}

TEST_CASE("dataset: ADDL/II doses equal the same doses written out; RATE, SS and misplaced ADDL are errors") {
  const std::string header = "ID,TIME,EVID,AMT,DV,DVID,ADDL,II,RATE,SS,WT\n";
  // Fractionated CAR-T: 10 %, 30 %, 60 % on days 0, 1, 2 written as ADDL would need equal amounts: 3 x 2e7 here.
  const auto compact = parse(header + "1,0,1,2e7,.,.,2,1,0,0,70\n1,0.5,0,.,1,flow,.,.,.,.,70\n1,7,0,.,9,flow,.,.,.,.,70\n");
  const auto written = parse(header + "1,0,1,2e7,.,.,0,.,.,.,70\n1,0.5,0,.,1,flow,.,.,.,.,70\n"
                                      "1,1,1,2e7,.,.,.,.,.,.,70\n1,2,1,2e7,.,.,.,.,.,.,70\n1,7,0,.,9,flow,.,.,.,.,70\n");
  const auto& a = compact.subjects.at(0).doses;
  const auto& b = written.subjects.at(0).doses;
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(a[k].dose.time_day == static_cast<double>(k));
    CHECK(a[k].dose.time_day == b[k].dose.time_day);
    CHECK(a[k].dose.amount == b[k].dose.amount);
    CHECK(a[k].dose.weight_kg == 70.0);
    CHECK(a[k].line == 2);  // all from the ADDL record
  }
  CHECK(compact.covariate_names == std::vector<std::string>{"WT"});  // ADDL, II, RATE, SS are not covariates
  const struct {
    std::string text;
    const char* message;
  } cases[] = {
      {header + "1,0,1,2e7,.,.,0,.,5e6,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column RATE: found '5e6', expected RATE = 0"},
      {header + "1,0,1,2e7,.,.,0,.,0,1,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column SS: found '1', expected SS = 0"},
      {header + "1,0,1,2e7,.,.,2,.,0,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column II: found '.', expected an interval II > 0 days with ADDL = 2"},
      {header + "1,0,1,2e7,.,.,1.5,1,0,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column ADDL: found '1.5', expected ADDL, a whole number"},
      {header + "1,0,1,2e7,.,.,0,.,0,0,70\n1,3,0,.,1,flow,2,1,.,.,70\n", "data.csv:3: column ADDL: found '2', expected ADDL only on a dose record"},
      {header + "1,0,1,2e7,.,.,2,1,0,0,70\n1,1,1,2e7,.,.,0,.,0,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n",
       "data.csv:3: duplicate dose record for subject 1 at TIME 1 (same as line 2"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THROWS_WITH_AS(parse(c.text), doctest::Contains(c.message), InputError);
  }
}

TEST_CASE("M2: a dose given as a dataset record (AMT cells, WT) equals the same dose given by flags") {
  const Model& model = find_model("cart_cd19_bcma");
  auto options = m2_options();
  const auto data = parse("ID,TIME,EVID,AMT,DV,DVID,WT\n7,0,1,8.4e7,.,.,84\n7,28,0,.,1.5,flow,84\n", options);
  const auto& dose = data.subjects.at(0).doses.at(0).dose;
  CHECK(dose.unit == DoseUnit::cells);
  std::vector<double> times;
  for (int d = 0; d <= 730; d += 7) times.push_back(d);
  OdeSolver solver(model);
  const auto from_data = solver.solve({model.default_parameters(), times, {}, {dose}});
  const auto from_flags = solver.solve({model.default_parameters(), times, {}, {{0.0, 1.0, 84.0, DoseUnit::fraction_of_dose_parameter}}});
  for (Eigen::Index k = 0; k < from_data.observables.rows(); ++k)
    for (Eigen::Index j = 0; j < from_data.observables.cols(); ++j)
      CHECK(cartpk::testing::close_relative(from_data.observables(k, j), from_flags.observables(k, j), 1e-10, 1e-14));
}
