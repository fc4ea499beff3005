#pragma once
// The population parameter model in HDF5, in one place: written under a group by vpop (and later popfit), read
// back by `vpop --iiv FILE.h5`. Layout (docs/hdf5-layout.md): typical [n_params], parameter_names, random_effects
// (names), omega [n_eta × n_eta], the covariate relations as parallel arrays, and the categorical covariates'
// distributions as rows of (covariate, level, probability).
#include <filesystem>
#include <string>

#include "io/h5_file.hpp"
#include "io/h5_reader.hpp"
#include "pkmodel/population.hpp"

namespace cartpk::io {

void write_population(const H5Group& group, const PopulationModel& population);

// Reads the group at `path` written by write_population for `model`; InputError naming the file when a name does
// not match the model, Ω is not positive definite or a covariate's level probabilities do not sum to 1.
PopulationModel read_population(const H5Reader& file, const std::string& path, const Model& model);

// `--iiv FILE.h5`: a cartpk vpop result (its /vpop/population: typical values, Ω, covariate relations) or a cartpk
// fit result (the empirical population of its subjects fitted ok: each subject's estimates with the fit's fixed
// values). InputError naming the file when it is neither, was made for another model, or has a categorical relation
// whose covariate's distribution it does not record (vpop could not draw a patient's level).
PopulationModel read_population_file(const std::filesystem::path& path, const Model& model);

}  // namespace cartpk::io
