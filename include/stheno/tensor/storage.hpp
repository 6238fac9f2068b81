#pragma once
#include <cstddef>
#include <memory>

namespace stheno {

// A block of memory shared by a tensor and all of its views. It either owns its bytes
// (64-byte aligned, for SIMD loads) or wraps memory owned by someone else, such as a
// buffer planned by the tape machine.
class Storage {
 public:
  static constexpr std::size_t kAlignment = 64;

  // Uninitialised, owned, aligned bytes; OutOfMemoryError when there are not enough.
  static std::shared_ptr<Storage> allocate(std::size_t bytes);
  // Borrowed bytes; the caller keeps them alive longer than every tensor that uses them.
  static std::shared_ptr<Storage> borrow(void* data, std::size_t bytes);

  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage();

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  // Only allocate() and borrow() can make the key, so only they construct a Storage, yet
  // std::make_shared can reach the constructor (one allocation for the object and its count).
  struct Key {};

 public:
  Storage(Key, void* data, std::size_t bytes, bool owned) : data_(data), bytes_(bytes), owned_(owned) {}

 private:
  void* data_;
  std::size_t bytes_;
  bool owned_;
};

}  // namespace stheno
