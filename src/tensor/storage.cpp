#include "stheno/tensor/storage.hpp"

#include <cstdio>
#include <new>

#include "stheno/tensor/error.hpp"

namespace stheno {

namespace {
std::string out_of_memory_message(std::size_t bytes, const std::string& purpose) {
  char amount[64];
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) std::snprintf(amount, sizeof amount, "%.1f GB", b / 1e9);
  else if (b >= 1e6) std::snprintf(amount, sizeof amount, "%.1f MB", b / 1e6);
  else std::snprintf(amount, sizeof amount, "%zu bytes", bytes);
  return std::string("out of memory: could not allocate ") + amount + (purpose.empty() ? "" : " for " + purpose);
}
}  // namespace

OutOfMemoryError::OutOfMemoryError(std::size_t bytes, const std::string& purpose)
    : Error(out_of_memory_message(bytes, purpose)), bytes_(bytes) {}

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes, Device device) {
  if (!device.is_host()) {
    DeviceRuntime& runtime = device_runtime(device);
    return std::make_shared<Storage>(Key{}, runtime.allocate(bytes), 0, bytes, device, true, nullptr);
  }
  // Never hand out a null pointer, even for zero-sized tensors, so views stay well-defined.
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* data = nullptr;
  try {
    data = ::operator new(rounded == 0 ? kAlignment : rounded, std::align_val_t(kAlignment));
  } catch (const std::bad_alloc&) {
    throw OutOfMemoryError(bytes, "");
  }
  return std::make_shared<Storage>(Key{}, data, 0, bytes, device, true, nullptr);
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t bytes) {
  return std::make_shared<Storage>(Key{}, data, 0, bytes, Device::cpu(), false, nullptr);
}

std::shared_ptr<Storage> Storage::slice(const std::shared_ptr<Storage>& base, std::size_t offset, std::size_t bytes) {
  if (offset + bytes > base->bytes_)
    throw ValueError("Storage::slice: bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                     ") lie outside a storage of " + std::to_string(base->bytes_) + " bytes");
  return std::make_shared<Storage>(Key{}, base->handle_, base->offset_ + offset, bytes, base->device_, false, base);
}

void Storage::throw_not_host() const {
  throw DeviceError("this memory is on " + device_.str() + ", not on the host; copy the tensor with to(Device::cpu()) first");
}

Storage::~Storage() {
  if (!owned_) return;
  if (device_.is_host()) ::operator delete(handle_, std::align_val_t(kAlignment));
  else device_runtime(device_).deallocate(handle_);
}

}  // namespace stheno
