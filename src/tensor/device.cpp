#include "stheno/tensor/device.hpp"

#include <array>
#include <charconv>
#include <atomic>
#include <mutex>

namespace stheno {

namespace {
constexpr std::array<std::string_view, 3> kKindNames = {"cpu", "opencl", "cuda"};

constexpr int kCachedIndices = 16;

struct Registry {
  std::mutex mutex;
  std::array<std::function<DeviceRuntime&(int)>, kKindNames.size()> start;
  // Started runtimes, read without the lock: every kernel call on a device looks its runtime up.
  std::array<std::array<std::atomic<DeviceRuntime*>, kCachedIndices>, kKindNames.size()> started{};
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

std::string_view device_kind_name(DeviceKind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::string Device::str() const {
  std::string s(device_kind_name(kind));
  if (!is_host()) s += ":" + std::to_string(index);
  return s;
}

Device Device::parse(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  for (std::size_t k = 0; k < kKindNames.size(); ++k) {
    if (kKindNames[k] != kind) continue;
    Device d{static_cast<DeviceKind>(k), 0};
    if (colon == std::string_view::npos) return d;
    const std::string_view number = text.substr(colon + 1);
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), d.index);
    if (error == std::errc() && end == number.data() + number.size() && d.index >= 0 && (!d.is_host() || d.index == 0))
      return d;
    break;
  }
  throw ValueError("unknown device '" + std::string(text) + "': expected cpu, opencl, opencl:N, cuda or cuda:N");
}

void register_device_kind(DeviceKind kind, std::function<DeviceRuntime&(int)> start) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.start[static_cast<std::size_t>(kind)] = std::move(start);
}

bool is_available(Device device) {
  if (device.is_host()) return true;
  try {
    device_runtime(device);
    return true;
  } catch (const DeviceError&) {
    return false;
  }
}

DeviceRuntime& device_runtime(Device device) {
  if (device.is_host()) throw DeviceError("device_runtime: the host has no device runtime");
  Registry& r = registry();
  const auto kind = static_cast<std::size_t>(device.kind);
  const bool cacheable = device.index < kCachedIndices;
  if (cacheable)
    if (DeviceRuntime* runtime = r.started[kind][static_cast<std::size_t>(device.index)].load(std::memory_order_acquire))
      return *runtime;
  std::function<DeviceRuntime&(int)> start;
  {
    std::lock_guard lock(r.mutex);
    start = r.start[kind];
  }
  if (!start)
    throw DeviceError(device.str() + ": this build of stheno has no " + std::string(device_kind_name(device.kind)) +
                      " backend (configure with -DSTHENO_" +
                      (device.kind == DeviceKind::opencl ? std::string("OPENCL") : std::string("CUDA")) + "=ON)");
  DeviceRuntime& runtime = start(device.index);
  if (cacheable) r.started[kind][static_cast<std::size_t>(device.index)].store(&runtime, std::memory_order_release);
  return runtime;
}

namespace {
// initial-exec: read from inside malloc hooks, so its access must never allocate.
thread_local int open_driver_calls __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace

DriverCall::DriverCall() noexcept { ++open_driver_calls; }
DriverCall::~DriverCall() { --open_driver_calls; }
int driver_call_depth() noexcept { return open_driver_calls; }

}  // namespace stheno
