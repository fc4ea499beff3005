// libFuzzer target: the NONMEM-style dataset reader must never crash, hang or read out of bounds on any
// input; bad input is an InputError and nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/dataset.hpp"
#include "pkmodel/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cartpk::io::DatasetOptions options = [] {  // every model-aware path: roles, states, a filter
    cartpk::io::DatasetOptions o;
    o.observables = {"qpcr", "flow", "bcell", "hb"};
    o.roles = {cartpk::Role::transgene, cartpk::Role::car_t, cartpk::Role::b_cells, cartpk::Role::hemoglobin};
    o.states = {"E", "M", "B"};
    o.dose_state = 0;
    o.dvid_map = {{"1", "qpcr"}, {"2", "flow"}};
    o.filters = {cartpk::io::parse_record_filter("DVID==9", false), cartpk::io::parse_record_filter("TIME<=1000", true)};
    return o;
  }();
  try {
    const auto parsed = cartpk::io::parse_dataset(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv", options);
    (void)parsed;
  } catch (const cartpk::InputError&) {
  }
  return 0;
}
