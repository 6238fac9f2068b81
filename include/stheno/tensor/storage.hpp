#pragma once
#include <cstddef>
#include <memory>

#include "stheno/tensor/device.hpp"

namespace stheno {

// A block of memory shared by a tensor and all of its views, on the host or on a device. It is
// a (handle, byte offset) pair: on the host the handle is a pointer, on a device an opaque buffer
// (cl_mem) that only that device's kernels can read. It either owns its bytes (64-byte aligned
// on the host, for SIMD loads), borrows memory owned by someone else, or is a slice of another
// storage, such as a buffer of the tape machine's arena.
class Storage {
 public:
  static constexpr std::size_t kAlignment = 64;

  // Uninitialised, owned bytes on `device`; OutOfMemoryError when there are not enough.
  static std::shared_ptr<Storage> allocate(std::size_t bytes, Device device = Device::cpu());
  // Borrowed host bytes; the caller keeps them alive longer than every tensor that uses them.
  static std::shared_ptr<Storage> borrow(void* data, std::size_t bytes);
  // `bytes` bytes of `base` from byte `offset` on, which the slice keeps alive.
  static std::shared_ptr<Storage> slice(const std::shared_ptr<Storage>& base, std::size_t offset, std::size_t bytes);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  // The host address of the first byte; throws DeviceError for device memory.
  void* data() const {
    if (!device_.is_host()) throw_not_host();
    return static_cast<char*>(handle_) + offset_;
  }
  void* handle() const { return handle_; }
  std::size_t byte_offset() const { return offset_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  // Only the factories can make the key, so only they construct a Storage, yet
  // std::make_shared can reach the constructor (one allocation for the object and its count).
  struct Key {};
  [[noreturn]] void throw_not_host() const;

 public:
  Storage(Key, void* handle, std::size_t offset, std::size_t bytes, Device device, bool owned,
          std::shared_ptr<Storage> base)
      : handle_(handle), offset_(offset), bytes_(bytes), device_(device), owned_(owned), base_(std::move(base)) {}

 private:
  void* handle_;
  std::size_t offset_;
  std::size_t bytes_;
  Device device_;
  bool owned_;
  std::shared_ptr<Storage> base_;
};

}  // namespace stheno
