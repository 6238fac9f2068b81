#include "stheno/tensor/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "tensor/strided_loop.hpp"

namespace stheno {

namespace {
// Conversions to an integer type saturate and map NaN to 0, where a plain cast would be undefined
// (float to int) or would wrap (int64 to int32).
template <class D, class S>
D convert_element(S x) {
  if constexpr (std::is_integral_v<D> && !std::is_same_v<D, S>) {
    constexpr D lowest = std::numeric_limits<D>::min(), highest = std::numeric_limits<D>::max();
    if constexpr (std::is_floating_point_v<S>) {
      if (!(x == x)) return 0;
      if (x >= static_cast<S>(highest)) return highest;
      if (x <= static_cast<S>(lowest)) return lowest;
    } else if constexpr (sizeof(D) < sizeof(S)) {
      if (x > static_cast<S>(highest)) return highest;
      if (x < static_cast<S>(lowest)) return lowest;
    }
  }
  return static_cast<D>(x);
}
}  // namespace

Tensor::Tensor(std::shared_ptr<Storage> storage, std::int64_t offset, const Shape& shape,
               const Strides& strides, DType dtype)
    : storage_(std::move(storage)), offset_(offset), shape_(shape), strides_(strides), dtype_(dtype) {}

void Tensor::require_defined(const char* what) const {
  if (!defined()) throw ValueError(std::string(what) + ": the tensor is undefined");
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  bool has_zero = false;
  for (std::int64_t d : shape) {
    if (d < 0) throw ShapeError("empty: shape " + shape.str() + " has a negative dimension");
    has_zero = has_zero || d == 0;
  }
  // Sizes from a file or a user can multiply past what memory can index; the product must not
  // wrap around to a small allocation that the tensor then overruns.
  std::size_t bytes = itemsize(dtype);
  if (!has_zero)
    for (std::int64_t d : shape)
      if (__builtin_mul_overflow(bytes, static_cast<std::size_t>(d), &bytes))
        throw OutOfMemoryError(std::numeric_limits<std::size_t>::max(),
                               "a " + std::string(dtype_name(dtype)) + " tensor of shape " + shape.str() + " (more bytes than memory can address)");
  if (has_zero) bytes = 0;
  try {
    return Tensor(Storage::allocate(bytes, device), 0, shape, contiguous_strides(shape), dtype);
  } catch (const OutOfMemoryError&) {
    throw OutOfMemoryError(bytes, "a " + std::string(dtype_name(dtype)) + " tensor of shape " + shape.str() +
                                      (device.is_host() ? "" : " on " + device.str()));
  }
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full(Shape{}, value, dtype, device);
}

Tensor Tensor::arange(double start, double stop, double step, DType dtype) {
  if (step == 0 || !std::isfinite(step) || !std::isfinite(start) || !std::isfinite(stop))
    throw ValueError("arange: start, stop and step must be finite and step non-zero (got start=" +
                     std::to_string(start) + ", stop=" + std::to_string(stop) +
                     ", step=" + std::to_string(step) + ")");
  const auto n = static_cast<std::int64_t>(std::max(0.0, std::ceil((stop - start) / step)));
  Tensor t = empty(Shape{n}, dtype);
  visit_dtype(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<double>(i) * step);
  });
  return t;
}

template <class T>
Tensor Tensor::from(std::span<const T> values, const Shape& shape) {
  if (static_cast<std::int64_t>(values.size()) != shape.numel())
    throw ShapeError("from: " + std::to_string(values.size()) + " values cannot fill shape " +
                     shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
  Tensor t = empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
template Tensor Tensor::from<float>(std::span<const float>, const Shape&);
template Tensor Tensor::from<double>(std::span<const double>, const Shape&);
template Tensor Tensor::from<std::int32_t>(std::span<const std::int32_t>, const Shape&);
template Tensor Tensor::from<std::int64_t>(std::span<const std::int64_t>, const Shape&);

Tensor Tensor::uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype) {
  Tensor t = empty(shape, dtype);
  visit_floating(dtype, "uniform", [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(low + (high - low) * gen.uniform());
  });
  return t;
}

Tensor Tensor::normal(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype) {
  Tensor t = empty(shape, dtype);
  visit_floating(dtype, "normal", [&]<class T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<T>(mean + stddev * gen.normal());
  });
  return t;
}

Tensor Tensor::borrow(void* data, const Shape& shape, DType dtype) {
  const auto bytes = static_cast<std::size_t>(shape.numel()) * itemsize(dtype);
  return Tensor(Storage::borrow(data, bytes), 0, shape, contiguous_strides(shape), dtype);
}

Tensor Tensor::over(std::shared_ptr<Storage> storage, const Shape& shape, DType dtype) {
  const auto bytes = static_cast<std::size_t>(shape.numel()) * itemsize(dtype);
  if (!storage || bytes > storage->bytes())
    throw ValueError("Tensor::over: a " + std::string(dtype_name(dtype)) + " tensor of shape " + shape.str() +
                     " needs " + std::to_string(bytes) + " bytes, more than the storage holds");
  return Tensor(std::move(storage), 0, shape, contiguous_strides(shape), dtype);
}

std::int64_t Tensor::size(int axis) const {
  return shape_[normalize_axis(axis, rank(), "size")];
}

bool Tensor::is_contiguous() const {
  // No element to misplace: any strides describe an empty tensor's layout.
  if (numel() == 0) return true;
  std::int64_t expected = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

bool Tensor::shares_storage(const Tensor& other) const {
  return storage_ && storage_ == other.storage_;
}

bool Tensor::same_elements(const Tensor& other) const {
  if (!shares_storage(other) || offset_ != other.offset_ || shape_ != other.shape_ || dtype_ != other.dtype_) return false;
  for (int i = 0; i < rank(); ++i)
    if (shape_[i] > 1 && strides_[i] != other.strides_[i]) return false;
  return true;
}

template <class T>
T* Tensor::data() const {
  require_defined("data");
  if (dtype_of<T>() != dtype_)
    throw DTypeError("data: requested " + std::string(dtype_name(dtype_of<T>())) +
                     " elements from a " + std::string(dtype_name(dtype_)) + " tensor");
  return static_cast<T*>(storage_->data()) + offset_;
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template std::int32_t* Tensor::data<std::int32_t>() const;
template std::int64_t* Tensor::data<std::int64_t>() const;

void* Tensor::raw_data() const {
  require_defined("raw_data");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<std::int64_t>(itemsize(dtype_));
}

namespace {
// The first element's byte in its storage.
std::size_t first_byte(const Tensor& t) {
  return t.storage()->byte_offset() + static_cast<std::size_t>(t.offset()) * itemsize(t.dtype());
}
}  // namespace

template <class T>
T Tensor::item() const {
  if (numel() != 1)
    throw ShapeError("item: expected a tensor with one element, got shape " + shape_.str());
  // Read exactly, not through at()'s double: an int64 may not fit a double's 53 bits.
  if (device().is_host()) return visit_dtype(dtype_, [&]<class S>() { return convert_element<T>(data<S>()[0]); });
  // Straight into a local, so that reading a device's loss every step allocates nothing.
  return visit_dtype(dtype_, [&]<class S>() {
    S value{};
    device_runtime(device()).download(storage_->handle(), first_byte(*this), &value, sizeof(S));
    return convert_element<T>(value);
  });
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template std::int32_t Tensor::item<std::int32_t>() const;
template std::int64_t Tensor::item<std::int64_t>() const;

double Tensor::at(std::span<const std::int64_t> index) const {
  require_defined("at");
  if (!device().is_host()) return to(Device::cpu()).at(index);
  if (static_cast<int>(index.size()) != rank())
    throw IndexError("at: " + std::to_string(index.size()) + " indices for a tensor of shape " +
                     shape_.str());
  std::int64_t pos = 0;
  for (int i = 0; i < rank(); ++i) {
    const std::int64_t k = index[static_cast<std::size_t>(i)];
    if (k < 0 || k >= shape_[i])
      throw IndexError("at: index " + std::to_string(k) + " is out of range for axis " +
                       std::to_string(i) + " of shape " + shape_.str());
    pos += k * strides_[i];
  }
  return visit_dtype(dtype_, [&]<class T>() { return static_cast<double>(data<T>()[pos]); });
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int32_t> Tensor::to_vector<std::int32_t>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

Tensor Tensor::contiguous() const {
  require_defined("contiguous");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  require_defined("clone");
  Tensor t = empty(shape_, dtype_, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  require_defined("to");
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device());
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  require_defined("to");
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_from(*this);
  return t;
}

namespace {
std::size_t byte_size(const Tensor& t) { return static_cast<std::size_t>(t.numel()) * itemsize(t.dtype()); }

// A copy between the host and a device, or between two devices: the bytes move only between
// contiguous tensors of one dtype and shape; anything else is arranged on either side first.
void copy_across_devices(const Tensor& src, const Tensor& dst) {
  const bool direct = src.dtype() == dst.dtype() && src.shape() == dst.shape() && src.is_contiguous() && dst.is_contiguous();
  if (!direct) {
    // Convert and lay out on the source's side, then move; if dst is strided, land in a staging copy.
    Tensor arranged = Tensor::empty(dst.shape(), dst.dtype(), src.device());
    arranged.copy_from(src);
    if (dst.is_contiguous()) {
      copy_across_devices(arranged, dst);
    } else {
      const Tensor staged = arranged.to(dst.device());
      dst.copy_from(staged);
    }
    return;
  }
  if (byte_size(src) == 0) return;
  if (src.device().is_host()) {
    device_runtime(dst.device()).upload(dst.storage()->handle(), first_byte(dst), src.raw_data(), byte_size(src));
  } else if (dst.device().is_host()) {
    device_runtime(src.device()).download(src.storage()->handle(), first_byte(src), dst.raw_data(), byte_size(src));
  } else {
    const Tensor host = src.to(Device::cpu());
    copy_across_devices(host, dst);
  }
}
}  // namespace

void Tensor::copy_from(const Tensor& src) const {
  require_defined("copy_from");
  src.require_defined("copy_from");
  if (src.device() != device()) return copy_across_devices(src, *this);
  if (!device().is_host()) {
    const Tensor safe = shares_storage(src) && !same_elements(src) ? src.clone() : src;
    return device_runtime(device()).copy(safe.shape() == shape_ ? safe : safe.expand(shape_), *this);
  }
  // A source that overlaps this tensor in another layout (t.copy_from(t.t())) is copied first.
  const Tensor safe = shares_storage(src) && !same_elements(src) ? src.clone() : src;
  const Tensor from = safe.shape() == shape_ ? safe : safe.expand(shape_);
  const auto loop = detail::make_strided_loop<2>(shape_, {&strides_, &from.strides_});
  visit_dtype(dtype_, [&]<class D>() {
    D* out = data<D>();
    visit_dtype(from.dtype_, [&]<class S>() {
      const S* in = from.data<S>();
      detail::for_each_row(loop, 0, loop.rows(), [&](const auto& off, std::int64_t n, const auto& st) {
        D* o = out + off[0];
        const S* i = in + off[1];
        if constexpr (std::is_same_v<D, S>) {
          if (st[0] == 1 && st[1] == 1) {  // the common case: a dense row, e.g. binding a batch
            std::memcpy(o, i, static_cast<std::size_t>(n) * sizeof(D));
            return;
          }
        }
        for (std::int64_t k = 0; k < n; ++k) o[k * st[0]] = convert_element<D>(i[k * st[1]]);
      });
    });
  });
}

void Tensor::fill(double value) const {
  require_defined("fill");
  if (!device().is_host()) return device_runtime(device()).fill(*this, value);
  const auto loop = detail::make_strided_loop<1>(shape_, {&strides_});
  visit_dtype(dtype_, [&]<class T>() {
    T* out = data<T>();
    const auto v = convert_element<T>(value);
    detail::for_each_row(loop, 0, loop.rows(), [&](const auto& off, std::int64_t n, const auto& st) {
      if (st[0] == 1) {
        std::fill_n(out + off[0], n, v);  // vectorised (the strided loop below is not: 3-4x slower)
        return;
      }
      for (std::int64_t k = 0; k < n; ++k) out[off[0] + k * st[0]] = v;
    });
  });
}

}  // namespace stheno
