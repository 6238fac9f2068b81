#pragma once
// What every backend checks before a collective, and how an error names it.
#include <string>
#include <string_view>

#include "stheno/dist/communicator.hpp"

namespace stheno::dist {

// "allreduce of grad.w (784, 30) float32 on rank 1 of 2"
inline std::string collective_at(std::string_view collective, const Communicator& c, const Tensor& t,
                                 std::string_view name) {
  std::string s(collective);
  s += " of ";
  if (!name.empty()) s += std::string(name) + " ";
  s += t.defined() ? t.shape().str() + " " + std::string(dtype_name(t.dtype())) : "an undefined tensor";
  return s + " on rank " + std::to_string(c.rank()) + " of " + std::to_string(c.size());
}

// A contiguous host tensor of a dtype the collective can move (and, for a mean, average).
inline void check_operand(std::string_view collective, const Communicator& c, const Tensor& t, std::string_view name,
                          bool averaged = false) {
  const auto fail = [&](const char* why) { throw DistributedError(collective_at(collective, c, t, name) + ": " + why); };
  if (!t.defined()) fail("the tensor is undefined");
  if (!t.device().is_host()) fail("collectives take host tensors");
  if (!t.is_contiguous()) fail("the tensor must be contiguous (a view is not: copy it with contiguous())");
  if (averaged && !is_floating(t.dtype())) fail("a mean needs float32 or float64");
  if (t.numel() > 2147483647) fail("more than 2^31 - 1 elements in one collective");
}

// allgather's output: (size, in's shape...) in in's dtype.
inline void check_gathered(const Communicator& c, const Tensor& in, const Tensor& out, std::string_view name) {
  check_operand("allgather", c, in, name);
  check_operand("allgather", c, out, name);
  if (out.rank() != in.rank() + 1 || out.shape()[0] != c.size() || out.numel() != in.numel() * c.size() ||
      out.dtype() != in.dtype())
    throw DistributedError(collective_at("allgather", c, in, name) + ": the output must be (" +
                           std::to_string(c.size()) + ", " + in.shape().str() + ") " +
                           std::string(dtype_name(in.dtype())) + ", got " + out.shape().str());
}

}  // namespace stheno::dist
