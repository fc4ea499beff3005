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
  CHECK(data.warnings[0].text.find("data.csv:3: observation at exactly the dose time") != std::string::npos);
  CHECK(data.warnings[1].text.find("data.csv:4: BLQ record with limit 100 above the quantified value 60") != std::string::npos);
}

TEST_CASE("dataset: warnings for a quantified value below its LLOQ, an all-BLQ observable, a changing covariate "
          "and times beyond ten years") {
  const auto data = parse(kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,2,0,.,30,qpcr,0,0,50,70,50\n"
                                    "1,4000,0,.,3,flow,0,0,.,72,50\n"
                                    "2,0,1,7e7,.,.,0,1,.,80,60\n2,5,0,.,50,qpcr,1,0,.,80,60\n2,9,0,.,50,qpcr,1,0,.,80,60\n");
  REQUIRE(data.warnings.size() == 4);
  CHECK(data.warnings[0].text.find("data.csv:4: TIME 4000 is beyond 10 years") != std::string::npos);
  CHECK(data.warnings[1].text.find("data.csv:4: covariate WT of subject 1 changes from 70 to 72") != std::string::npos);
  CHECK(data.warnings[2].text.find("data.csv:3: quantified value 30 is below its LLOQ 50 with CENS = 0") != std::string::npos);
  CHECK(data.warnings[3].text.find("data.csv:5: all 2 qpcr records of subject 2 are below the quantification limit") !=
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
      {"dose before the infusion", kHeader + "1,-1,1,7e7,.,.,0,1,.,70,50\n", "column TIME: found '-1', expected a dose time >= 0"},
      {"non-monotone time", kHeader + "1,5,0,.,1,flow,0,0,.,70,50\n1,3,0,.,1,flow,0,0,.,70,50\n", "data.csv:3: column TIME: found '3', expected times in non-decreasing order"},
      {"duplicate dose", kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,0,1,7e7,.,.,0,1,.,70,50\n1,3,0,.,1,flow,0,0,.,70,50\n", "data.csv:3: duplicate dose"},
      {"EVID out of range", kHeader + "1,0,5,7e7,.,.,0,1,.,70,50\n", "column EVID: found '5', expected EVID 0 (observation), 1 (dose) or 2"},
      {"MDV out of range", kHeader + "1,3,0,.,1,flow,0,2,.,70,50\n", "column MDV: found '2', expected 0 or 1"},
      {"CENS out of range", kHeader + "1,3,0,.,1,flow,-1,0,.,70,50\n", "column CENS: found '-1', expected 0 or 1"},
      {"CENS without LLOQ", kHeader + "1,3,0,.,.,flow,1,0,.,70,50\n", "data.csv:2: column DV: found '.', expected the quantification limit"},
      {"AMT <= 0 on a dose", kHeader + "1,0,1,0,.,.,0,1,.,70,50\n", "column AMT: found '0', expected a dose in cells > 0"},
      {"unknown DVID only (skipped: --dvid maps some)", kHeader + "1,3,0,.,1,cd4,0,0,.,70,50\n", "data.csv:2: subject 1 has no observations"},
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

TEST_CASE("dataset: ADDL/II doses equal the same doses written out; RATE < 0, SS and misplaced ADDL or RATE are errors") {
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
      {header + "1,0,1,2e7,.,.,0,.,-2,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column RATE: found '-2', expected RATE 0 (a bolus) or > 0 in cells/day (an infusion over AMT/RATE days): RATE = -1 and -2"},
      {header + "1,0,1,2e7,.,.,0,.,-5,0,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column RATE: found '-5', expected RATE 0 (a bolus) or > 0"},
      {header + "1,0,1,2e7,.,.,0,.,0,0,70\n1,3,0,.,1,flow,.,.,4,.,70\n", "data.csv:3: column RATE: found '4', expected RATE only on a dose record"},
      {header + "1,0,1,2e7,.,.,0,.,0,1,70\n1,3,0,.,1,flow,.,.,.,.,70\n", "data.csv:2: column SS: found '1', expected SS = 0 or '.': steady-state dosing is not supported"},
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

// ---- Datasets as NONMEM, Monolix and nlmixr2 users export them: each variant reads to the same subjects and
// records as its plain comma-separated equivalent (everything but the source lines compared).
namespace {
void check_same(const io::Dataset& variant, const io::Dataset& plain) {
  REQUIRE(variant.subjects.size() == plain.subjects.size());
  CHECK(variant.covariate_names == plain.covariate_names);
  CHECK(variant.categorical_names == plain.categorical_names);
  for (std::size_t s = 0; s < plain.subjects.size(); ++s) {
    const auto& a = variant.subjects[s];
    const auto& b = plain.subjects[s];
    INFO("subject " << b.id);
    CHECK(a.id == b.id);
    CHECK(a.covariates == b.covariates);
    CHECK(a.categorical == b.categorical);
    REQUIRE(a.doses.size() == b.doses.size());
    for (std::size_t k = 0; k < a.doses.size(); ++k) {
      const auto& x = a.doses[k].dose;
      const auto& y = b.doses[k].dose;
      CHECK(x.time_day == y.time_day);
      CHECK(x.amount == y.amount);
      CHECK(x.weight_kg == y.weight_kg);
      CHECK(x.compartment == y.compartment);
      CHECK(x.duration_day == y.duration_day);
    }
    REQUIRE(a.observations.size() == b.observations.size());
    for (std::size_t k = 0; k < a.observations.size(); ++k) {
      const auto& x = a.observations[k];
      const auto& y = b.observations[k];
      CHECK(x.time_day == y.time_day);
      CHECK(x.observable == y.observable);
      CHECK(x.value == y.value);
      CHECK(x.censored == y.censored);
      CHECK((x.lloq == y.lloq || (std::isnan(x.lloq) && std::isnan(y.lloq))));
    }
  }
}

// The plain file every variant below is compared with: two subjects, qPCR (DVID 1) and flow (DVID 2), a BLQ
// record, covariates WT and AGE.
const std::string kPlain = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT,AGE\n"
                           "1,0,1,7e7,.,.,0,1,70,54\n"
                           "1,7,0,.,3500,1,0,0,70,54\n"
                           "1,7,0,.,11.2,2,0,0,70,54\n"
                           "1,180,0,.,50,1,1,0,70,54\n"
                           "2,0,1,5.6e7,.,.,0,1,56,61\n"
                           "2,14,0,.,20,2,0,0,56,61\n";
io::Dataset plain() { return parse(kPlain); }
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) text.replace(pos, from.size(), to);
  return text;
}
}  // namespace

TEST_CASE("dataset variants: semicolon, tab and whitespace separated files, detected or chosen, read as the comma file") {
  const auto reference = plain();
  check_same(parse(replace_all(kPlain, ",", ";")), reference);
  check_same(parse(replace_all(kPlain, ",", "\t")), reference);
  check_same(parse(replace_all(kPlain, ",", "   ")), reference);  // runs of blanks, as NONMEM tables are aligned
  check_same(parse(replace_all(replace_all(kPlain, ",", " \t "), "\n", "  \n")), reference);
  for (const auto& [text, separator] : {std::pair{replace_all(kPlain, ",", ";"), "semicolon"}, {replace_all(kPlain, ",", "\t"), "tab"},
                                        {replace_all(kPlain, ",", " "), "whitespace"}, {kPlain, "comma"}}) {
    auto options = m2_options();
    options.separator = io::parse_separator(separator, "--sep");
    const auto data = parse(text, options);
    CHECK(io::separator_name(data.separator) == separator);
    check_same(data, reference);
  }
  CHECK(parse(replace_all(kPlain, ",", ";")).separator == io::Separator::semicolon);
  // A decimal-comma file chosen as semicolon-separated: the commas stay in the numbers and are refused by line.
  CHECK_THROWS_WITH_AS(parse(replace_all(replace_all(kPlain, ",", ";"), "11.2", "11,2")), doctest::Contains("data.csv:4: column DV: found '11,2'"),
                       InputError);
  // The wrong separator chosen: the header is one field, every row a ragged one.
  auto comma = m2_options();
  comma.separator = io::Separator::comma;
  CHECK_THROWS_WITH_AS(parse(replace_all(kPlain, ",", ";"), comma), doctest::Contains("missing required column(s) ID, TIME, DV"), InputError);
  CHECK_THROWS_WITH_AS(io::parse_separator("pipe", "--sep"), doctest::Contains("--sep 'pipe': expected comma, semicolon, tab"), InputError);
}

TEST_CASE("dataset variants: CMT as the observation type without DVID, BLQ for CENS, DVID names in any case, DVID 1.0") {
  const auto reference = plain();
  // CMT instead of DVID (numbers mapped by --dvid as DVID's are); on the dose rows CMT 1 is state 1.
  std::string cmt = replace_all(kPlain, "DVID", "CMT");
  check_same(parse(cmt), reference);
  CHECK(parse(cmt).subjects[0].doses[0].dose.compartment == -1);  // '.': the model's dose state
  check_same(parse(replace_all(kPlain, "CENS", "BLQ")), reference);
  check_same(parse(replace_all(kPlain, "CENS", "blq")), reference);
  // Observable names instead of numbers, in any case; numeric DVIDs written as 1.0 / 2.00.
  check_same(parse(replace_all(replace_all(kPlain, ",3500,1,", ",3500,QPCR,"), ",11.2,2,", ",11.2,Flow,")), reference);
  check_same(parse(replace_all(replace_all(kPlain, ",3500,1,", ",3500,1.0,"), ",20,2,", ",20,2.00,")), reference);
  // With a DVID column too, DVID names the observable and CMT on observations is not used.
  const auto both = parse("ID,TIME,EVID,AMT,DV,DVID,CMT,WT\n1,0,1,7e7,.,.,1,70\n1,7,0,.,3500,1,9,70\n");
  CHECK(both.subjects[0].observations[0].observable == 1);  // qpcr
  // A CMT column and --dvid naming the one observable: every observation is that one.
  io::DatasetOptions single;
  single.observables = {"qpcr", "flow"};
  single.default_observable = "qpcr";
  const auto one = parse("ID,TIME,EVID,AMT,DV,CMT,WT\n1,0,1,7e7,.,1,70\n1,7,0,.,3500,2,70\n1,9,0,.,3000,2,70\n", single);
  REQUIRE(one.subjects[0].observations.size() == 2);
  CHECK(one.subjects[0].observations[1].observable == 0);
}

TEST_CASE("dataset variants: comment lines (#, @, C), a C column, EVID 2 rows and replicate observations") {
  const auto reference = plain();
  std::string commented = "# exported 2024-05-01\n@ NONMEM IGNORE=@\n" + kPlain;
  commented = replace_all(commented, "1,180,", "C,dropped by IGNORE=C\n1,180,");
  commented = replace_all(commented, "2,0,1,", "  # an indented comment\n2,0,1,");
  check_same(parse(commented), reference);
  // A C column: rows with a value there are dropped; '.' and empty keep the row.
  std::string c_column = "C," + replace_all(kPlain, "\n", "\n.,");
  c_column = c_column.substr(0, c_column.size() - 2);  // no trailing ".,"
  c_column = replace_all(c_column, ".,1,7,0,.,11.2", ",1,7,0,.,11.2");
  c_column += "C,2,30,0,.,99,2,0,0,56,61\nx,2,31,0,.,98,2,0,0,56,61\n";
  const auto with_c = parse(c_column);
  check_same(with_c, reference);
  CHECK(with_c.dropped_records == 2);
  CHECK(with_c.covariate_names == std::vector<std::string>{"WT", "AGE"});  // C is not a covariate
  // EVID 2 rows (other events: a covariate, no dose, no observation) are read and skipped.
  const auto evid2 = parse(replace_all(kPlain, "1,180,", "1,28,2,.,.,.,0,1,70,54\n1,90,2,.,.,.,.,.,70,54\n1,180,"));
  check_same(evid2, reference);
  // Replicate observations at the same time are data, not duplicates.
  const auto replicates = parse(kPlain + "2,14,0,.,22,2,0,0,56,61\n");
  REQUIRE(replicates.subjects[1].observations.size() == 2);
  CHECK(replicates.subjects[1].observations[1].value == 22.0);
}

TEST_CASE("dataset variants: --ignore and --accept select records as NONMEM's IGNORE= and ACCEPT= do") {
  const auto filtered = [](const std::string& text, std::vector<std::string> ignore, std::vector<std::string> accept) {
    auto options = m2_options();
    for (const auto& f : ignore) options.filters.push_back(io::parse_record_filter(f, false));
    for (const auto& f : accept) options.filters.push_back(io::parse_record_filter(f, true));
    return parse(text, options);
  };
  const std::string with_extra = replace_all(kPlain, "1,180,", "1,400,0,.,40,1,0,0,70,54\n1,180,");
  // The same file with the records removed by hand.
  const std::string no_flow = replace_all(replace_all(kPlain, "1,7,0,.,11.2,2,0,0,70,54\n", ""), "2,14,0,.,20,2,0,0,56,61\n", "2,14,0,.,20,1,0,0,56,61\n");
  const std::string flow_kept = replace_all(kPlain, "2,14,0,.,20,2,", "2,14,0,.,20,1,");
  CHECK_THROWS_AS(filtered(kPlain, {"DVID==2"}, {}), InputError);  // subject 2 is left without observations
  check_same(filtered(flow_kept, {"DVID==2"}, {}), parse(no_flow));
  check_same(filtered(flow_kept, {"DVID.EQ.2"}, {}), parse(no_flow));
  check_same(filtered(flow_kept, {"dvid == flow", "DVID==2"}, {}), parse(no_flow));
  // Missing values meet no condition: --ignore "DVID!=1" keeps the dose rows (DVID '.').
  check_same(filtered(flow_kept, {"DVID!=1"}, {}), parse(no_flow));
  // --accept: every condition must hold (a window).
  const std::string later = replace_all(with_extra, "1,400,0,.,40,1,0,0,70,54\n1,180,0,.,50,1,1,0,70,54\n", "1,180,0,.,50,1,1,0,70,54\n1,400,0,.,40,1,0,0,70,54\n");
  check_same(filtered(later, {}, {"TIME<=365"}), plain());
  check_same(filtered(later, {}, {"TIME.LE.365", "TIME>=0"}), plain());
  check_same(filtered(later, {"TIME>365"}, {}), plain());
  CHECK(filtered(later, {}, {"TIME<=365"}).dropped_records == 1);
  // Text covariates compare as text, case-insensitively.
  const std::string sexes = "ID,TIME,EVID,AMT,DV,DVID,WT,SEX\n1,0,1,7e7,.,.,70,M\n1,7,0,.,3500,1,70,M\n2,0,1,7e7,.,.,60,f\n2,7,0,.,3000,1,60,f\n";
  const auto women = filtered(sexes, {}, {"SEX==F"});
  REQUIRE(women.subjects.size() == 1);
  CHECK(women.subjects[0].id == "2");
  // Refused: the option and the text are named.
  const struct {
    const char* text;
    bool accept;
    const char* message;
  } bad[] = {
      {"DVID", false, "--ignore 'DVID': no comparison"},
      {"==5", false, "--ignore '==5': no column name"},
      {"TIME<=", true, "--accept 'TIME<=': no single value"},
      {"SEX<M", true, "--accept 'SEX<M': 'M' is not a number, and text compares only with == and !="},
      {"TIME!5", true, "--accept 'TIME!5': '!' without '='"},
  };
  for (const auto& b : bad) {
    INFO(b.text);
    CHECK_THROWS_WITH_AS(io::parse_record_filter(b.text, b.accept), doctest::Contains(b.message), InputError);
  }
  CHECK_THROWS_WITH_AS(filtered(kPlain, {"DVIX==5"}, {}), doctest::Contains("--ignore 'DVIX==5': data.csv has no column DVIX (expected one of: ID, TIME"),
                       InputError);
  CHECK_THROWS_WITH_AS(filtered(sexes, {}, {"SEX>=1"}), doctest::Contains("data.csv:2: column SEX: found 'M', expected a number to compare for --accept 'SEX>=1'"),
                       InputError);
}

TEST_CASE("dataset: text covariates are categorical, numeric ones stay numeric; an unused covariate never stops a run") {
  const auto data = parse("ID,TIME,EVID,AMT,DV,DVID,WT,SEX,PRODUCT,AGE,SITE\n"
                          "1,0,1,7e7,.,.,70,M,cd19-bcma,54,NA\n1,7,0,.,3500,1,70,M,cd19-bcma,54,NA\n"
                          "2,0,1,6e7,.,.,60,F,\"cd19, bcma\",61,7\n2,7,0,.,3000,1,60,F,\"cd19, bcma\",61,inf\n");
  CHECK(data.covariate_names == std::vector<std::string>{"WT", "AGE"});
  CHECK(data.categorical_names == std::vector<std::string>{"SEX", "PRODUCT", "SITE"});
  CHECK(data.subjects[0].categorical.at("SEX") == "M");
  CHECK(data.subjects[1].categorical.at("PRODUCT") == "cd19, bcma");
  CHECK(data.subjects[1].categorical.at("SITE") == "7");  // a text column keeps every value as text
  CHECK(data.subjects[1].covariates.at("AGE") == 61.0);
  REQUIRE(data.warnings.size() == 1);  // SITE 7 -> inf within subject 2
  CHECK(data.warnings[0].text.find("data.csv:5: covariate SITE of subject 2 changes from 7 to inf") != std::string::npos);
  // WT is used (doses in cells): it must be a number.
  CHECK_THROWS_WITH_AS(parse("ID,TIME,EVID,AMT,DV,DVID,WT\n1,0,1,7e7,.,.,heavy\n1,7,0,.,3500,1,70\n"),
                       doctest::Contains("data.csv:2: column WT: found 'heavy', expected a body weight in kg"), InputError);
}

TEST_CASE("dataset: doses with CMT (state number or name) and RATE (zero-order infusion over AMT/RATE days)") {
  const Model& model = find_model("cart_cd19_bcma");
  auto options = io::dataset_options(model, {"1=qpcr,2=flow", "", {}, {}});
  const auto data = parse("ID,TIME,EVID,AMT,DV,DVID,CMT,RATE,WT\n1,0,1,7e7,.,.,1,3.5e7,70\n1,1,1,1e7,.,.,M,.,70\n"
                          "1,2,1,1e7,.,.,.,0,70\n1,7,0,.,3500,1,.,.,70\n",
                          options);
  const auto& doses = data.subjects[0].doses;
  REQUIRE(doses.size() == 3);
  CHECK(doses[0].dose.compartment == 0);
  CHECK(doses[0].dose.duration_day == 2.0);  // 7e7 cells at 3.5e7 cells/day
  CHECK(doses[1].dose.compartment == 1);     // M, by name
  CHECK(doses[2].dose.compartment == -1);
  CHECK(doses[2].dose.duration_day == 0.0);
  const struct {
    const char* row;
    const char* message;
  } bad[] = {
      {"1,0,1,7e7,.,.,12,.,70", "data.csv:2: column CMT: found '12', expected on a dose record (EVID = 1), CMT the number of the state that receives it, from 1 to 11 (1 E, 2 M"},
      {"1,0,1,7e7,.,.,0,.,70", "column CMT: found '0'"},
      {"1,0,1,7e7,.,.,1.5,.,70", "column CMT: found '1.5'"},
      {"1,0,1,7e7,.,.,.,-2,70", "column RATE: found '-2', expected RATE 0 (a bolus) or > 0 in cells/day (an infusion over AMT/RATE days): RATE = -1 and -2"},
  };
  for (const auto& b : bad) {
    INFO(b.row);
    CHECK_THROWS_WITH_AS(parse(std::string("ID,TIME,EVID,AMT,DV,DVID,CMT,RATE,WT\n") + b.row + "\n1,7,0,.,3500,1,.,.,70\n", options),
                         doctest::Contains(b.message), InputError);
  }
}

TEST_CASE("dataset: EVID 3 and 4 are refused as unsupported; records before the infusion are read") {
  for (const char* evid : {"3", "4"}) {
    INFO(evid);
    CHECK_THROWS_WITH_AS(parse(kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,5," + evid + ",.,.,.,0,1,.,70,50\n1,7,0,.,1,flow,0,0,.,70,50\n"),
                         doctest::Contains(doctest::String((std::string("data.csv:3: column EVID: found '") + evid + "', expected EVID 0 (observation), 1 (dose) or 2 (other event): EVID 3 and 4 (system resets) are not supported").c_str())),
                         InputError);
  }
  CHECK_THROWS_WITH_AS(parse(kHeader + "1,0,1,7e7,.,.,0,1,.,70,50\n1,5,2,.,.,.,0,0,.,70,50\n1,7,0,.,1,flow,0,0,.,70,50\n"),
                       doctest::Contains("data.csv:3: column MDV: found '0', expected MDV = 1 on an other-event record (EVID = 2)"), InputError);
  const auto data = parse(kHeader + "1,-7,0,.,120,bcell,0,0,.,70,50\n1,-7,0,.,110,hb,0,0,.,70,50\n1,-3,2,.,.,.,.,.,.,70,50\n"
                                    "1,0,1,7e7,.,.,0,1,.,70,50\n1,7,0,.,1,flow,0,0,.,70,50\n");
  const auto& s = data.subjects.at(0);
  REQUIRE(s.observations.size() == 3);
  CHECK(s.observations[0].time_day == -7.0);
  CHECK(data.warnings.empty());
  CHECK_THROWS_WITH_AS(parse(kHeader + "1,-1,0,.,120,bcell,0,0,.,70,50\n1,-2,0,.,120,bcell,0,0,.,70,50\n"),
                       doctest::Contains("data.csv:3: column TIME: found '-2', expected times in non-decreasing order"), InputError);
}

TEST_CASE("dataset: observation types the model lacks are skipped with one warning when --dvid maps only some") {
  const auto data = parse(replace_all(kPlain, "2,14,", "2,10,0,.,35,5,0,0,56,61\n2,11,0,.,3.1,CRP,0,0,56,61\n2,12,0,.,36,5,0,0,56,61\n2,14,"));
  check_same(data, plain());
  CHECK(data.skipped_observations == 3);
  REQUIRE(data.warnings.size() == 1);
  CHECK(data.warnings[0].text.find("data.csv:7: 3 observation(s) of types the model does not have are skipped: 5 (2 at lines 7, 9); CRP (1 at line 8) (--dvid maps 1=qpcr, 2=flow)") !=
        std::string::npos);
  // Without --dvid, an unknown type is still an error (it may be a typo).
  auto unmapped = m2_options();
  unmapped.dvid_map.clear();
  CHECK_THROWS_WITH_AS(parse(kHeader + "1,3,0,.,1,crp,0,0,.,70,50\n", unmapped), doctest::Contains("data.csv:2: column DVID: found 'crp', expected an observable"), InputError);
  // A subject left with none: said so.
  CHECK_THROWS_WITH_AS(parse(kHeader + "1,3,0,.,1,7,0,0,.,70,50\n"), doctest::Contains("subject 1 has no observations (expected at least one record with EVID = 0 and MDV = 0 of an observable of the model; its 1 observation(s) are of types the model does not have)"), InputError);
}

TEST_CASE("dataset warnings: units, implausible doses, CAR-T at the dose time; none on the bundled example cohort") {
  const Model& m2 = find_model("cart_cd19_bcma");
  const auto options = io::dataset_options(m2, {"1=qpcr,2=flow", "", {}, {}});
  const auto data = parse("ID,TIME,EVID,AMT,DV,DVID,WT\n"
                          "1,0,1,7e7,.,.,70\n1,0,0,.,150,bcell,70\n1,0,0,.,0.5,flow,70\n1,7,0,.,11.5,hb,70\n1,9,0,.,120,hb,70\n"
                          "2,0,1,2,.,.,70\n2,7,0,.,1,flow,70\n"
                          "3,0,1,8e10,.,.,80\n3,7,0,.,1,flow,80\n",
                          options);
  std::vector<std::string> texts;
  for (const auto& w : data.warnings) texts.push_back(w.text);
  REQUIRE(texts.size() == 4);
  CHECK(texts[0].find("data.csv:5: hemoglobin 11.5 of subject 1 looks like g/dL (expected g/L: 11.5 g/dL is 115 g/L)") != std::string::npos);
  CHECK(texts[1].find("data.csv:4: observation at exactly the dose time of line 2") != std::string::npos);  // flow; bcell is a baseline
  CHECK(texts[2].find("data.csv:7: AMT 2 cells of subject 2 with WT 70 kg is 0.02857142857 cells/kg, below 1e3 cells/kg: is AMT in cells/kg or in millions of cells?") !=
        std::string::npos);
  CHECK(texts[3].find("data.csv:9: AMT 8e+10 cells of subject 3 with WT 80 kg is 1000000000 cells/kg, more CAR+ cells than all white blood cells of a person") !=
        std::string::npos);
  // The bundled synthetic cohort is clean.
  auto stein = io::dataset_options(find_model("stein2019"), {"1=qpcr,2=flow", "", {}, {}});
  const auto example = io::read_dataset(std::string(CARTPK_SOURCE_DIR) + "/examples/synthetic_stein2019_cohort.csv", stein);
  CHECK(example.subjects.size() > 10);
  for (const auto& w : example.warnings) INFO(w.text);
  CHECK(example.warnings.empty());
}

TEST_CASE("dataset warnings are summarised: one line per kind with its count and first three lines; all; none") {
  std::string text = kHeader;
  for (int s = 1; s <= 5; ++s)
    text += std::to_string(s) + ",0,1,7e7,.,.,0,1,.,70,50\n" + std::to_string(s) + ",2,0,.,30,qpcr,0,0,50,70,50\n";
  text += "6,0,1,7e7,.,.,0,1,.,70,50\n6,0,0,.,1,flow,0,0,.,70,50\n";
  const auto data = parse(text);
  REQUIRE(data.warnings.size() == 6);
  const auto summary = io::warning_lines(data.warnings, io::WarningDetail::summary);
  REQUIRE(summary.size() == 2);
  CHECK(summary[0] == "data.csv:3: quantified value 30 is below its LLOQ 50 with CENS = 0 (a BLQ record has CENS = 1, DV = LLOQ) "
                      "[5 warnings of this kind (quantified value below its LLOQ), at lines 3, 5, 7, ...; --warnings all prints each]");
  CHECK(summary[1] == "data.csv:13: observation at exactly the dose time of line 12 (it is taken after the dose)");
  CHECK(io::warning_lines(data.warnings, io::WarningDetail::all).size() == 6);
  CHECK(io::warning_lines(data.warnings, io::WarningDetail::none).empty());
  CHECK(io::parse_warning_detail("all", "--warnings") == io::WarningDetail::all);
  CHECK_THROWS_WITH_AS(io::parse_warning_detail("some", "--warnings"), doctest::Contains("--warnings 'some': expected summary"), InputError);
}

TEST_CASE("dataset options for a model: --dvid names in any case, unknown observables and empty numbers refused") {
  const Model& stein = find_model("stein2019");
  const auto options = io::dataset_options(stein, {"1=QPCR, 2=flow", "semicolon", {"DVID==5"}, {"TIME<=365"}});
  CHECK(options.dvid_map.at("1") == "qpcr");
  CHECK(options.dvid_map.at("2") == "flow");
  CHECK(options.separator == io::Separator::semicolon);
  REQUIRE(options.filters.size() == 2);
  CHECK(options.roles.size() == 2);
  CHECK(options.dose_state == -1);  // stein2019 is dosed by its parameters
  CHECK_THROWS_WITH_AS(io::dataset_options(stein, {"1=crp", "", {}, {}}), doctest::Contains("--dvid '1=crp': model stein2019 has no observable 'crp'"), InputError);
  CHECK_THROWS_WITH_AS(io::dataset_options(stein, {"=qpcr", "", {}, {}}), doctest::Contains("--dvid '=qpcr': expected N=name"), InputError);
  CHECK_THROWS_WITH_AS(io::dataset_options(stein, {"", "pipe", {}, {}}), doctest::Contains("--sep 'pipe'"), InputError);
}

TEST_CASE("before the infusion: stein2019 rests at its baseline R0 (ODE and closed form, with sensitivities); "
          "cart_cd19_bcma starts at the infusion, so its earlier records are left out of a fit with one note") {
  const Model& stein = find_model("stein2019");
  CHECK(stein.defined_before_infusion());
  auto p = stein.default_parameters();
  const std::vector<double> times{-14.0, -1.0, 0.0, 5.0};
  const std::vector<int> sens{stein.parameter_index("cmax"), stein.parameter_index("foldx")};
  OdeSolver ode(stein);
  const auto a = ode.solve({p, times, sens, {}});
  const auto b = solve_closed_form(stein, {p, times, sens, {}});
  const double r0 = p[static_cast<std::size_t>(stein.parameter_index("cmax"))] / p[static_cast<std::size_t>(stein.parameter_index("foldx"))];
  for (Eigen::Index k = 0; k < 3; ++k) {
    CHECK(a.observables(k, 0) == doctest::Approx(r0).epsilon(1e-12));
    CHECK(b.observables(k, 0) == doctest::Approx(r0).epsilon(1e-12));
    CHECK(a.observable_sensitivities[0](k, 0) == doctest::Approx(r0 / p[2]).epsilon(1e-10));  // d R0 / d cmax
    CHECK(b.observable_sensitivities[0](k, 1) == doctest::Approx(a.observable_sensitivities[0](k, 1)).epsilon(1e-10));
  }
  CHECK(a.observables(3, 0) == doctest::Approx(b.observables(3, 0)).epsilon(1e-6));

  const Model& m2 = find_model("cart_cd19_bcma");
  CHECK_FALSE(m2.defined_before_infusion());
  CHECK_THROWS_WITH_AS(OdeSolver(m2).solve({m2.default_parameters(), {-1.0, 2.0}, {}, {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}}),
                       doctest::Contains("output time #1 = -1 is not allowed (expected a finite time >= 0 day: the model starts at the infusion"),
                       InputError);
  auto options = io::dataset_options(m2, {"", "", {}, {}});
  auto data = parse("ID,TIME,EVID,AMT,DV,DVID,WT\n1,-7,0,.,150,bcell,70\n1,-7,0,.,120,hb,70\n1,0,1,7e7,.,.,70\n1,7,0,.,3,flow,70\n"
                    "2,-2,0,.,140,bcell,60\n2,0,1,6e7,.,.,60\n2,7,0,.,2,flow,60\n",
                    options);
  auto subjects = data.subjects;
  CHECK(io::leave_out_before_infusion(m2, subjects, "data.csv") ==
        "data.csv: 3 record(s) before the infusion (TIME < 0) of 2 subject(s) are left out of the fit: model cart_cd19_bcma starts at the infusion (lines 2, 3, 6)");
  CHECK(subjects[0].observations.size() == 1);
  CHECK(data.subjects[0].observations.size() == 3);  // kept in the dataset
  auto kept = data.subjects;
  CHECK(io::leave_out_before_infusion(stein, kept, "data.csv").empty());
  CHECK(kept[0].observations.size() == 3);
  auto only_before = parse("ID,TIME,EVID,AMT,DV,DVID,WT\n1,-7,0,.,150,bcell,70\n1,0,1,7e7,.,.,70\n", options).subjects;
  CHECK_THROWS_WITH_AS(io::leave_out_before_infusion(m2, only_before, "data.csv"),
                       doctest::Contains("data.csv:2: subject 1 has no observations from the infusion on"), InputError);
}
