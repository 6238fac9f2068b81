#pragma once
#include <array>
#include <cstdint>

namespace stheno {

// A seeded random number generator (xoshiro256** seeded through splitmix64). The same seed
// gives the same sequence on every run and every machine: the integer stream is exact, and
// uniform and normal values are derived from it with fixed IEEE double arithmetic.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0);

  std::uint64_t next_u64();
  // Uniform in [0, 1), 53 random bits.
  double uniform();
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n);

  // The complete state, for checkpoints: restoring it continues the same sequence.
  struct State {
    std::array<std::uint64_t, 4> s{};
    double spare_normal = 0;
    bool has_spare = false;
    friend bool operator==(const State&, const State&) = default;
  };
  State state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  State state_;
};

}  // namespace stheno
