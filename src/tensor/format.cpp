// NumPy-style printing: aligned columns, one shared float format, "..." for large tensors.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

namespace {
constexpr std::int64_t kSummariseAbove = 1000;  // elements; NumPy's threshold
constexpr std::int64_t kEdgeItems = 3;
constexpr std::size_t kLineWidth = 75;

struct Layout {
  bool summarise = false;
  bool floating = false;
  bool scientific = false;
  bool all_integral = true;
  int max_fraction = 0;
  std::size_t int_width = 0;   // characters before the decimal point (or the whole integer)
  std::size_t frac_width = 0;  // characters from the decimal point on
};

// Indices along an axis that are printed; -1 marks the "..." gap.
std::vector<std::int64_t> shown(std::int64_t n, bool summarise) {
  std::vector<std::int64_t> idx;
  if (summarise && n > 2 * kEdgeItems) {
    for (std::int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (std::int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  } else {
    for (std::int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

template <class Fn>
void for_each_shown(const Tensor& t, bool summarise, std::vector<std::int64_t>& index, int axis, Fn&& fn) {
  if (axis == t.rank()) {
    fn(t.at(index));
    return;
  }
  for (std::int64_t i : shown(t.shape()[axis], summarise)) {
    if (i < 0) continue;
    index[static_cast<std::size_t>(axis)] = i;
    for_each_shown(t, summarise, index, axis + 1, fn);
  }
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Fraction digits (at most 8) needed to print v so that it reads back the same at 8 digits.
int fraction_digits(double v) {
  std::string s = fixed(v, 8);
  const std::size_t dot = s.find('.');
  std::size_t end = s.size();
  while (end > dot + 1 && s[end - 1] == '0') --end;
  return static_cast<int>(end - dot - 1);
}

std::string format_value(double v, const Layout& l) {
  std::string s;
  if (!l.floating) {
    s = std::to_string(static_cast<long long>(v));
    return std::string(l.int_width > s.size() ? l.int_width - s.size() : 0, ' ') + s;
  }
  if (std::isnan(v) || std::isinf(v)) {  // right-aligned in the whole column
    s = std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
    const std::size_t width = l.int_width + l.frac_width;
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + s;
  }
  if (l.scientific) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*e", l.max_fraction, v);
    s = buf;
    if (l.max_fraction == 0) s.insert(s.find('e'), ".");  // NumPy writes 1.e-05
  } else {
    s = fixed(v, fraction_digits(v));
    if (s.find('.') == std::string::npos) s += '.';
  }
  const std::size_t dot = std::min(s.find('.'), s.size());
  const std::size_t left = dot, right = s.size() - dot;
  return std::string(l.int_width > left ? l.int_width - left : 0, ' ') + s +
         std::string(l.frac_width > right ? l.frac_width - right : 0, ' ');
}

Layout measure(const Tensor& t, bool summarise) {
  Layout l;
  l.summarise = summarise;
  l.floating = is_floating(t.dtype());
  double max_abs = 0, min_nonzero = INFINITY;
  std::vector<std::int64_t> index(static_cast<std::size_t>(t.rank()));
  for_each_shown(t, summarise, index, 0, [&](double v) {
    if (!std::isfinite(v)) return;
    max_abs = std::max(max_abs, std::fabs(v));
    if (v != 0) min_nonzero = std::min(min_nonzero, std::fabs(v));
    if (v != std::floor(v)) l.all_integral = false;
  });
  l.scientific = l.floating && (max_abs >= 1e8 || (min_nonzero < 1e-4 && !l.all_integral));
  if (l.scientific) {
    for_each_shown(t, summarise, index, 0, [&](double v) {
      // The fewest mantissa digits that read back as the 8-digit value.
      char full[64], buf[64];
      std::snprintf(full, sizeof full, "%.8e", v);
      int d = 0;
      for (; d < 8; ++d) {
        std::snprintf(buf, sizeof buf, "%.*e", d, v);
        if (std::strtod(buf, nullptr) == std::strtod(full, nullptr)) break;
      }
      l.max_fraction = std::max(l.max_fraction, d);
    });
  }
  Layout probe = l;
  probe.int_width = probe.frac_width = 0;
  std::size_t nonfinite_width = 0;
  for_each_shown(t, summarise, index, 0, [&](double v) {
    const std::string s = format_value(v, probe);
    if (l.floating && !std::isfinite(v)) {
      nonfinite_width = std::max(nonfinite_width, s.size());
      return;
    }
    const std::size_t dot = l.floating ? std::min(s.find('.'), s.size()) : s.size();
    l.int_width = std::max(l.int_width, dot);
    l.frac_width = std::max(l.frac_width, s.size() - dot);
  });
  if (l.int_width + l.frac_width < nonfinite_width) l.int_width = nonfinite_width - l.frac_width;
  return l;
}

void print_axis(std::string& out, const Tensor& t, const Layout& l, std::vector<std::int64_t>& index,
                int axis, std::size_t indent) {
  out += '[';
  const auto idx = shown(t.shape()[axis], l.summarise);
  const bool last_axis = axis + 1 == t.rank();
  std::size_t column = indent + 1;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    std::string item;
    if (idx[k] < 0) {
      item = "...";
    } else {
      index[static_cast<std::size_t>(axis)] = idx[k];
      if (last_axis) item = format_value(t.at(index), l);
    }
    if (last_axis) {
      if (k > 0) {
        if (column + 2 + item.size() > kLineWidth) {
          out += ",\n" + std::string(indent + 1, ' ');
          column = indent + 1;
        } else {
          out += ", ";
          column += 2;
        }
      }
      out += item;
      column += item.size();
    } else {
      if (k > 0) out += "," + std::string(static_cast<std::size_t>(t.rank() - axis - 1), '\n') + std::string(indent + 1, ' ');
      if (idx[k] < 0) out += item;
      else print_axis(out, t, l, index, axis + 1, indent + 1);
    }
  }
  out += ']';
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  if (!device().is_host()) return to(Device::cpu()).str() + " on " + device().str();
  const std::string dtype = "dtype=" + std::string(dtype_name(dtype_));
  if (numel() == 0) return "tensor([], shape=" + shape_.str() + ", " + dtype + ")";
  const Layout l = measure(*this, numel() > kSummariseAbove);
  if (rank() == 0) {
    Layout bare = l;
    bare.int_width = bare.frac_width = 0;
    return "tensor(" + format_value(at({}), bare) + ", " + dtype + ")";
  }
  std::string out = "tensor(";
  std::vector<std::int64_t> index(static_cast<std::size_t>(rank()));
  print_axis(out, *this, l, index, 0, 7);
  return out + ", " + dtype + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace stheno
