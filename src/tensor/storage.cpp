#include "stheno/tensor/storage.hpp"

#include <new>

namespace stheno {

std::shared_ptr<Storage> Storage::allocate(std::size_t bytes) {
  // Never hand out a null pointer, even for zero-sized tensors, so views stay well-defined.
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* data = ::operator new(rounded == 0 ? kAlignment : rounded, std::align_val_t(kAlignment));
  return std::make_shared<Storage>(Key{}, data, bytes, true);
}

std::shared_ptr<Storage> Storage::borrow(void* data, std::size_t bytes) {
  return std::make_shared<Storage>(Key{}, data, bytes, false);
}

Storage::~Storage() {
  if (owned_) ::operator delete(data_, std::align_val_t(kAlignment));
}

}  // namespace stheno
