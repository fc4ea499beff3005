#include "io/trial_design_file.hpp"

#include <cmath>
#include <sstream>

#include "io/did_you_mean.hpp"
#include "io/population_file.hpp"  // read_text_file
#include "io/toml_support.hpp"

namespace cartpk::io {

namespace {
constexpr int kMaxTrialSize = 1000;

// Reads one file; each check names file:line, the key, what was found and what was expected.
class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& key, const std::string& message) const {
    throw InputError(toml_where(name_, node.source()) + ": key " + key + ": " + message);
  }

  static std::string found(const toml::node& node) {
    std::ostringstream out;
    if (auto i = node.value_exact<std::int64_t>()) out << *i;
    else if (auto v = node.value<double>()) out << *v;
    else if (auto s = node.value<std::string>()) out << "'" << *s << "'";
    else out << "a " << node.type();
    return out.str();
  }

  void unknown(const toml::node& node, const std::string& key, const std::vector<std::string>& expected) const {
    std::string list;
    for (const auto& e : expected) list += (list.empty() ? "" : ", ") + e;
    const std::string leaf = key.substr(key.rfind('.') + 1);
    throw InputError(toml_where(name_, node.source()) + ": unknown key '" + key + "'" +
                     did_you_mean_hint(leaf, expected) + " (expected " + list + ")");
  }

  const toml::table& table(const toml::node& node, const std::string& key) const {
    const auto* t = node.as_table();
    if (!t) fail(node, key, "found " + found(node) + ", expected a table [" + key + "]");
    return *t;
  }

  int integer(const toml::node& node, const std::string& key, int low, int high, const std::string& what) const {
    const auto v = node.value_exact<std::int64_t>();
    if (!v || *v < low || *v > high)
      fail(node, key, "found " + found(node) + ", expected " + what + " (an integer from " + std::to_string(low) +
                          " to " + std::to_string(high) + ")");
    return static_cast<int>(*v);
  }

  double number(const toml::node& node, const std::string& key, const std::string& what) const {
    const auto v = node.value<double>();
    if (!v || !std::isfinite(*v)) fail(node, key, "found " + found(node) + ", expected " + what);
    return *v;
  }

  std::string text(const toml::node& node, const std::string& key, const std::string& what) const {
    const auto s = node.value<std::string>();
    if (!s || s->empty()) fail(node, key, "found " + found(node) + ", expected " + what);
    return *s;
  }

  std::string where(const toml::node& node, const std::string& key) const {
    return toml_where(name_, node.source()) + ": key " + key;
  }

  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
};

trial::ToxicityStopDesign read_design(const Reader& r, const toml::table& t, const toml::node& table_node) {
  trial::ToxicityStopDesign d;
  const toml::node *n1 = nullptr, *n = nullptr, *tox1 = nullptr, *resp = nullptr, *from = nullptr, *final_tox = nullptr;
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    if (key == "n1") n1 = &node;
    else if (key == "n") n = &node;
    else if (key == "max_tox_stage1") tox1 = &node;
    else if (key == "min_responders") resp = &node;
    else if (key == "responders_from") from = &node;
    else if (key == "max_tox_final") final_tox = &node;
    else r.unknown(node, "design." + key, {"n1", "n", "max_tox_stage1", "min_responders", "responders_from", "max_tox_final"});
  }
  const std::pair<const toml::node*, const char*> required[] = {
      {n1, "n1"}, {n, "n"}, {tox1, "max_tox_stage1"}, {resp, "min_responders"}, {from, "responders_from"}};
  for (const auto& [node, key] : required)
    if (!node)
      r.fail(table_node, std::string("design.") + key,
             "missing (expected n1, n, max_tox_stage1, min_responders and responders_from in [design])");
  d.n1 = r.integer(*n1, "design.n1", 1, kMaxTrialSize - 1, "a stage-1 size");
  d.n = r.integer(*n, "design.n", 2, kMaxTrialSize, "a total size (stage 1 + stage 2)");
  if (d.n1 >= d.n)
    r.fail(*n1, "design.n1", "n1 = " + std::to_string(d.n1) + " and n = " + std::to_string(d.n) +
                                 ": expected n1 < n (the total size n includes stage 1 and leaves patients for stage 2)");
  d.max_tox_stage1 = r.integer(*tox1, "design.max_tox_stage1", 0, d.n1, "the most toxicities among the n1 stage-1 patients that continue");
  const std::string responders_from = r.text(*from, "design.responders_from", "\"all\" or \"stage2\"");
  if (responders_from == "all") d.responders_from = trial::RespondersFrom::all;
  else if (responders_from == "stage2") d.responders_from = trial::RespondersFrom::stage2;
  else r.fail(*from, "design.responders_from", "found '" + responders_from + "', expected \"all\" or \"stage2\"");
  const bool all = d.responders_from == trial::RespondersFrom::all;
  d.min_responders = r.integer(*resp, "design.min_responders", 0, all ? d.n : d.n - d.n1,
                               all ? "responders among all n patients" : "responders among the n - n1 stage-2 patients");
  if (final_tox) d.max_tox_final = r.integer(*final_tox, "design.max_tox_final", 0, d.n, "toxicities among all n patients");
  return d;
}

trial::Condition read_condition(const Reader& r, const toml::node& item) {
  const auto& t = r.table(item, "response.condition");
  trial::Condition c;
  c.where = r.where(item, "response.condition");
  bool metric = false, comparison = false, threshold = false;
  for (const auto& [k, node] : t) {
    const std::string key(k.str()), full = "response.condition." + key;
    if (key == "metric") {
      c.metric = r.text(node, full, "a metric name (e.g. \"hb_change_day90\")");
      c.where = r.where(node, full);
      metric = true;
    } else if (key == "comparison") {
      const auto s = node.value<std::string>();
      const auto parsed = s ? trial::parse_comparison(*s) : std::nullopt;
      if (!parsed) r.fail(node, full, "found " + Reader::found(node) + ", expected \"<\", \"<=\", \">\" or \">=\"");
      c.comparison = *parsed;
      comparison = true;
    } else if (key == "threshold") {
      c.threshold = r.number(node, full, "a number (in the metric's unit)");
      threshold = true;
    } else {
      r.unknown(node, full, {"metric", "comparison", "threshold"});
    }
  }
  if (!metric || !comparison || !threshold)
    r.fail(item, "response.condition", "expected metric, comparison and threshold in every condition");
  return c;
}

trial::ResponseRule read_response(const Reader& r, const toml::table& t, const toml::node& table_node) {
  trial::ResponseRule rule;
  rule.where = r.where(table_node, "response");
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    if (key == "combine") {
      const std::string s = r.text(node, "response.combine", "\"all\" or \"any\"");
      if (s == "all") rule.combine = trial::Combine::all;
      else if (s == "any") rule.combine = trial::Combine::any;
      else r.fail(node, "response.combine", "found '" + s + "', expected \"all\" or \"any\"");
    } else if (key == "condition") {
      const auto* list = node.as_array();
      if (!list) r.fail(node, "response.condition", "expected [[response.condition]] tables or a list of inline tables");
      for (const auto& item : *list) rule.conditions.push_back(read_condition(r, item));
    } else {
      r.unknown(node, "response." + key, {"combine", "condition"});
    }
  }
  if (rule.conditions.empty())
    r.fail(table_node, "response", "no conditions (expected at least one [[response.condition]] with metric, "
                                   "comparison and threshold)");
  return rule;
}

trial::ToxicityLink read_toxicity(const Reader& r, const toml::table& t, const toml::node& table_node) {
  trial::ToxicityLink link = trial::default_toxicity_link();
  link.where = r.where(table_node, "toxicity");
  const toml::node *kind = nullptr, *probability = nullptr, *logistic = nullptr;
  bool intercept = false, slope = false;
  for (const auto& [k, node] : t) {
    const std::string key(k.str()), full = "toxicity." + key;
    if (key == "link") {
      kind = &node;
    } else if (key == "probability") {
      link.probability = r.number(node, full, "a probability in [0, 1]");
      if (!(link.probability >= 0.0 && link.probability <= 1.0)) r.fail(node, full, "found " + Reader::found(node) + ", expected a probability in [0, 1]");
      probability = &node;
    } else if (key == "metric") {
      link.metric = r.text(node, full, "a metric name (e.g. \"flow_cmax\")");
      link.where = r.where(node, full);
      logistic = &node;
    } else if (key == "intercept") {
      link.intercept = r.number(node, full, "a number (the logit of P(toxicity) where the metric is 1)");
      logistic = &node;
      intercept = true;
    } else if (key == "slope") {
      link.slope = r.number(node, full, "a number (the change in logit P(toxicity) per tenfold metric)");
      logistic = &node;
      slope = true;
    } else {
      r.unknown(node, full, {"link", "metric", "intercept", "slope", "probability"});
    }
  }
  std::string kind_text = probability ? "fixed" : "logistic";
  if (kind) {
    kind_text = r.text(*kind, "toxicity.link", "\"logistic\" or \"fixed\"");
    if (kind_text != "logistic" && kind_text != "fixed")
      r.fail(*kind, "toxicity.link", "found '" + kind_text + "', expected \"logistic\" or \"fixed\"");
  }
  if (kind_text == "fixed") {
    if (!probability) r.fail(kind ? *kind : table_node, "toxicity.probability", "missing (expected a fixed link's probability in [0, 1])");
    if (logistic) r.fail(*logistic, "toxicity", "a fixed link takes only probability (expected no metric, intercept or slope)");
    link.kind = trial::ToxicityLink::Kind::fixed;
    link.metric.clear();
  } else {
    if (probability) r.fail(*probability, "toxicity.probability", "a logistic link takes metric, intercept and slope (expected link = \"fixed\" for a fixed probability)");
    if (intercept != slope)
      r.fail(table_node, "toxicity", std::string("only ") + (intercept ? "intercept" : "slope") +
                                         " given (expected both intercept and slope, or neither for the defaults)");
    link.kind = trial::ToxicityLink::Kind::logistic;
  }
  return link;
}
}  // namespace

TrialDesignFile parse_trial_design_text(const std::string& text, const std::string& name) {
  const toml::table doc = parse_toml(text, name, "a TOML trial design file, see docs/designs.md");
  const Reader r(name);
  TrialDesignFile out;
  out.name = name;
  bool design = false;
  for (const auto& [k, node] : doc) {
    const std::string key(k.str());
    if (key == "design") {
      out.design = read_design(r, r.table(node, key), node);
      design = true;
    } else if (key == "response") {
      out.response = read_response(r, r.table(node, key), node);
    } else if (key == "toxicity") {
      out.toxicity = read_toxicity(r, r.table(node, key), node);
    } else {
      r.unknown(node, key, {"design", "response", "toxicity"});
    }
  }
  if (!design)
    throw InputError(name + ": no [design] table (expected [design] with n1, n, max_tox_stage1, min_responders and "
                            "responders_from, see docs/designs.md)");
  return out;
}

TrialDesignFile read_trial_design_file(const std::filesystem::path& path) {
  return parse_trial_design_text(read_text_file(path, "trial design file"), path.string());
}

}  // namespace cartpk::io
