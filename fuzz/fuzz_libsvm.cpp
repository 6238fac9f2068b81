// A LIBSVM file as a sparse dataset: either parsing throws a stheno::Error, or the samples are
// consistent: one class id per row, ids within the classes, and the CSR arrays in order.
#include <cstddef>
#include <cstdint>

#include "stheno/data/libsvm.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stheno;
  data::SparseSamples s;
  try {
    // Every other input is read as a test file against fixed classes and a feature count.
    data::LibsvmOptions options;
    if (size % 2) options = {100, {-1, 0, 1, 2}};
    s = data::parse_libsvm({data, size}, "input.svm", options);
  } catch (const Error&) {
    return 0;
  }
  const CsrMatrix& x = s.features;
  if (x.rows() != s.labels.numel() || x.rows() < 1) __builtin_trap();
  const std::int32_t* offsets = x.row_offsets().data<std::int32_t>();
  const std::int32_t* columns = x.columns().data<std::int32_t>();
  const std::int32_t* labels = s.labels.data<std::int32_t>();
  if (offsets[0] != 0 || offsets[x.rows()] != x.nnz()) __builtin_trap();
  for (std::int64_t r = 0; r < x.rows(); ++r) {
    if (labels[r] < 0 || labels[r] >= static_cast<std::int64_t>(s.classes.size())) __builtin_trap();
    for (std::int64_t k = offsets[r]; k < offsets[r + 1]; ++k)
      if (columns[k] < 0 || columns[k] >= x.cols() || (k > offsets[r] && columns[k] <= columns[k - 1])) __builtin_trap();
  }
  return 0;
}
