#pragma once
// Where a tensor's memory lives. The host (cpu) is always present; other devices come from
// backends (OpenCL) that register a DeviceRuntime, the little the tensor layer needs of a device:
// memory, transfers and copies. Everything else a device computes goes through the kernels
// layer's backends.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "stheno/tensor/error.hpp"

namespace stheno {

enum class DeviceKind : std::uint8_t { cpu, opencl, cuda };

struct Device {
  DeviceKind kind = DeviceKind::cpu;
  int index = 0;

  static constexpr Device cpu() { return {}; }
  // "cpu", "opencl", "opencl:1", "cuda:0"; throws ValueError naming the text otherwise.
  static Device parse(std::string_view text);
  bool is_host() const { return kind == DeviceKind::cpu; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};

std::string_view device_kind_name(DeviceKind kind);

// Thrown when a device is missing or cannot do what was asked; the message names the device.
class DeviceError : public Error {
 public:
  using Error::Error;
};

class Tensor;

// Memory and copies on one device. A buffer is an opaque handle (a cl_mem, a CUDA pointer); a
// position in it is a byte offset, so views work alike on every device.
class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual Device device() const = 0;
  // A human-readable name, e.g. "pthread-skylake-avx512 (Portable Computing Language)".
  virtual std::string name() const = 0;
  // Uninitialised memory (never assume zeros); OutOfMemoryError when there is not enough.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* handle) noexcept = 0;
  virtual void upload(void* handle, std::size_t offset, const void* host, std::size_t bytes) = 0;
  virtual void download(const void* handle, std::size_t offset, void* host, std::size_t bytes) = 0;
  // Starts copying host bytes into a buffer on the device's copy queue and returns at once; the
  // host bytes must stay unchanged until finish_uploads() returns.
  virtual void upload_async(void* handle, std::size_t offset, const void* host, std::size_t bytes) = 0;
  // Kernels queued from now on wait, on the device, for every upload started so far; the host
  // does not wait.
  virtual void order_after_uploads() = 0;
  // Waits on the host for every upload started so far (not for kernels).
  virtual void finish_uploads() = 0;
  // dst's elements = src's (same device, src broadcast to dst's shape, any strides and dtypes).
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;
  virtual void fill(const Tensor& dst, double value) = 0;
  // Waits until every queued operation has finished.
  virtual void synchronize() = 0;
  // Counters for tests and benchmarks: allocations made, host synchronisations (waits for the
  // device) and kernel launches so far.
  virtual std::int64_t allocations() const = 0;
  virtual std::int64_t synchronizations() const = 0;
  virtual std::int64_t launches() const = 0;
};

// The runtime of `device`, started on first use; throws DeviceError saying why a device is
// unavailable (no backend compiled in, no platform, index out of range). Not for the host.
DeviceRuntime& device_runtime(Device device);
// Whether `device` can be used here (the host always can); starts it if needed.
bool is_available(Device device);
// Backends register how to start a device of their kind; the factory throws DeviceError when
// the device is unavailable.
void register_device_kind(DeviceKind kind, std::function<DeviceRuntime&(int index)> start);

// Marks, on the calling thread, a call into a device's driver or vendor library (the OpenCL
// runtime, CLBlast, CUDA, the host's BLAS): what those allocate is theirs, and allocation counts
// can tell it from stheno's own. Backends make every per-step driver or library call inside one.
class DriverCall {
 public:
  DriverCall() noexcept;
  ~DriverCall();
  DriverCall(const DriverCall&) = delete;
  DriverCall& operator=(const DriverCall&) = delete;
};
// How many DriverCalls are open on the calling thread (0 outside any).
int driver_call_depth() noexcept;

}  // namespace stheno
