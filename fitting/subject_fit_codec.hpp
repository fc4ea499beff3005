#pragma once
// A subject's fit as bytes, for the trip from an MPI rank to rank 0: an exact round trip of every field.
#include "fitting/subject_fit.hpp"
#include "pkmodel/byte_codec.hpp"

namespace cartpk::fitting {

void encode(ByteWriter& out, const SubjectFit& fit);
SubjectFit decode_subject_fit(ByteReader& in);

}  // namespace cartpk::fitting
