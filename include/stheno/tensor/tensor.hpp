#pragma once
// A dense, strided, reference-counted n-dimensional array. Copying a Tensor is cheap and
// shares its storage; views (slice, transpose, reshape where possible, expand) never copy.
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stheno/tensor/dtype.hpp"
#include "stheno/tensor/random.hpp"
#include "stheno/tensor/shape.hpp"
#include "stheno/tensor/storage.hpp"

namespace stheno {

class Tensor {
 public:
  // An undefined tensor: defined() is false and every other call throws.
  Tensor() = default;

  // --- creation -------------------------------------------------------------------------
  // On the host unless a device is given; values made on the host move with to(device).
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
  // start, start+step, ... up to but excluding stop (NumPy's arange).
  static Tensor arange(double start, double stop, double step = 1.0, DType dtype = DType::f32);
  // Copies `values` into a new tensor of `shape` (default: 1-D); sizes must agree.
  template <class T>
  static Tensor from(std::span<const T> values, const Shape& shape);
  template <class T>
  static Tensor from(std::span<const T> values) {
    return from<T>(values, Shape{static_cast<std::int64_t>(values.size())});
  }
  template <class T>
  static Tensor from(const std::vector<T>& values, const Shape& shape) {
    return from<T>(std::span<const T>(values), shape);
  }
  template <class T>
  static Tensor from(const std::vector<T>& values) {
    return from<T>(std::span<const T>(values));
  }
  // Uniform in [low, high) and normal(mean, stddev), drawn from `gen` in row-major order.
  static Tensor uniform(const Shape& shape, Generator& gen, double low = 0.0, double high = 1.0,
                        DType dtype = DType::f32);
  static Tensor normal(const Shape& shape, Generator& gen, double mean = 0.0, double stddev = 1.0,
                       DType dtype = DType::f32);
  // A view of memory owned elsewhere (not copied, not freed).
  static Tensor borrow(void* data, const Shape& shape, DType dtype);
  // A contiguous tensor over the first bytes of `storage` (host or device).
  static Tensor over(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype);

  // --- metadata -------------------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int rank() const { return shape_.rank(); }
  std::int64_t size(int axis) const;
  std::int64_t numel() const { return shape_.numel(); }
  std::int64_t offset() const { return offset_; }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool shares_storage(const Tensor& other) const;
  // The same elements of the same storage in the same order: same storage, offset, dtype and
  // shape, and equal strides on every axis longer than 1 (a size-1 axis's stride is arbitrary).
  // Kernels use it to tell true in-place work from a harmful overlap.
  bool same_elements(const Tensor& other) const;

  // --- element access -------------------------------------------------------------------
  // Pointer to the first element; throws DTypeError if T does not match dtype() and DeviceError
  // if the tensor is not on the host.
  template <class T>
  T* data() const;
  void* raw_data() const;
  // The single element of a one-element tensor.
  template <class T>
  T item() const;
  // The element at `index` (one index per axis), converted to double. For tests and printing;
  // a device tensor is copied to the host first.
  double at(std::span<const std::int64_t> index) const;
  double at(std::initializer_list<std::int64_t> index) const {
    return at(std::span<const std::int64_t>(index.begin(), index.size()));
  }
  // The elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // --- views (share storage) --------------------------------------------------------------
  // Elements start, start+step, ... < stop along `axis` (negative start/stop count from the end).
  Tensor slice(int axis, std::int64_t start, std::int64_t stop, std::int64_t step = 1) const;
  // The sub-tensor at `index` along `axis`, which is dropped.
  Tensor select(int axis, std::int64_t index) const;
  Tensor transpose(int axis0, int axis1) const;
  Tensor permute(std::span<const int> order) const;
  Tensor permute(std::initializer_list<int> order) const {
    return permute(std::span<const int>(order.begin(), order.size()));
  }
  // Swaps the last two axes.
  Tensor t() const;
  // A view when the strides allow it, otherwise a contiguous copy. One dimension may be -1.
  Tensor reshape(const Shape& shape) const;
  // As reshape, but throws ShapeError instead of copying.
  Tensor view(const Shape& shape) const;
  // Broadcasts size-1 (or missing leading) axes to `shape` with stride 0.
  Tensor expand(const Shape& shape) const;
  // Any layout over the same storage, from element `offset`; throws ShapeError if an element
  // would lie outside the storage.
  Tensor as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const;
  Tensor unsqueeze(int axis) const;
  Tensor squeeze(int axis) const;
  Tensor flatten() const { return reshape(Shape{numel()}); }

  // --- copies ---------------------------------------------------------------------------
  // This tensor if already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  // This tensor if already on `device`, else a contiguous copy there.
  Tensor to(Device device) const;
  // Writes `src` (broadcast to this shape, converted to this dtype) into this tensor's elements.
  void copy_from(const Tensor& src) const;
  void fill(double value) const;

  std::string str() const;

 private:
  Tensor(std::shared_ptr<Storage> storage, std::int64_t offset, const Shape& shape,
         const Strides& strides, DType dtype);
  void require_defined(const char* what) const;

  std::shared_ptr<Storage> storage_;
  std::int64_t offset_ = 0;
  Shape shape_;
  Strides strides_;
  DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace stheno
