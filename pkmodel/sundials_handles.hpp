#pragma once
// One owner per SUNDIALS handle. The context is created first and destroyed last (see OdeSolver's members).
#include <cvodes/cvodes.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sundials/sundials_linearsolver.h>
#include <sundials/sundials_matrix.h>

#include <memory>
#include <type_traits>

namespace cartpk::sundials {

struct ContextDeleter {
  void operator()(SUNContext ctx) const { SUNContext_Free(&ctx); }
};
struct VectorDeleter {
  void operator()(N_Vector v) const { N_VDestroy(v); }
};
struct MatrixDeleter {
  void operator()(SUNMatrix m) const { SUNMatDestroy(m); }
};
struct LinearSolverDeleter {
  void operator()(SUNLinearSolver ls) const { SUNLinSolFree(ls); }
};
struct CvodeDeleter {
  void operator()(void* mem) const { CVodeFree(&mem); }
};

using Context = std::unique_ptr<std::remove_pointer_t<SUNContext>, ContextDeleter>;
using Vector = std::unique_ptr<std::remove_pointer_t<N_Vector>, VectorDeleter>;
using Matrix = std::unique_ptr<std::remove_pointer_t<SUNMatrix>, MatrixDeleter>;
using LinearSolver = std::unique_ptr<std::remove_pointer_t<SUNLinearSolver>, LinearSolverDeleter>;
using CvodeMemory = std::unique_ptr<void, CvodeDeleter>;

// An array of N_Vectors cloned from a template (the sensitivity vectors).
class VectorArray {
 public:
  VectorArray() = default;
  VectorArray(int count, N_Vector like) : data_(N_VCloneVectorArray(count, like)), count_(count) {}
  VectorArray(const VectorArray&) = delete;
  VectorArray& operator=(const VectorArray&) = delete;
  VectorArray(VectorArray&& o) noexcept : data_(o.data_), count_(o.count_) { o.data_ = nullptr; o.count_ = 0; }
  VectorArray& operator=(VectorArray&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = o.data_;
      count_ = o.count_;
      o.data_ = nullptr;
      o.count_ = 0;
    }
    return *this;
  }
  ~VectorArray() { reset(); }
  [[nodiscard]] N_Vector* get() const { return data_; }
  [[nodiscard]] int size() const { return count_; }
  [[nodiscard]] double* data(int i) const { return N_VGetArrayPointer(data_[i]); }

 private:
  void reset() {
    if (data_) N_VDestroyVectorArray(data_, count_);
    data_ = nullptr;
  }
  N_Vector* data_ = nullptr;
  int count_ = 0;
};

}  // namespace cartpk::sundials
