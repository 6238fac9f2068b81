#include "kernels/cpu/winograd.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/thread_pool.hpp"

namespace stheno::cpu {

namespace {

constexpr std::int64_t kTile = kWinogradTile, kPositions = kTile * kTile;
// Tiles transformed and multiplied together: their products (36 × tiles × filters) stay in L2.
constexpr std::int64_t kTilesPerChunk = 64;

template <class T>
constexpr std::int64_t kLanes = kMaxVectorBytes / static_cast<std::int64_t>(sizeof(T));

template <class T>
std::int64_t whole_vectors(std::int64_t n) {
  return (n + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}

// How a layer is cut into tiles: m×m outputs each, tile rows taken `chunk_rows` at a time, the
// padded input laid out by pixel (channels innermost, ldc apart), the outputs by pixel too.
struct Tiling {
  std::int64_t r, m, out_h, out_w, tiles_h, tiles_w, chunk_rows, chunks, in_w, ldc, ldf;

  template <class T>
  static Tiling of(const Conv2dGeometry& g, const ConvShapes& s) {
    Tiling t{};
    t.r = g.kernel_h;
    t.m = kTile + 1 - t.r;
    t.out_h = g.out_h(), t.out_w = g.out_w();
    t.tiles_h = (t.out_h + t.m - 1) / t.m, t.tiles_w = (t.out_w + t.m - 1) / t.m;
    t.chunk_rows = std::clamp<std::int64_t>(kTilesPerChunk / t.tiles_w, 1, t.tiles_h);
    t.chunks = (t.tiles_h + t.chunk_rows - 1) / t.chunk_rows;
    t.in_w = t.tiles_w * t.m + t.r - 1;
    t.ldc = whole_vectors<T>(g.channels), t.ldf = whole_vectors<T>(s.f);
    return t;
  }
  std::int64_t tile_rows(std::int64_t chunk) const { return std::min(chunk_rows, tiles_h - chunk * chunk_rows); }
  std::int64_t in_rows() const { return chunk_rows * m + r - 1; }
  std::int64_t max_tiles() const { return chunk_rows * tiles_w; }
};

// The padded input rows a chunk reads, by pixel: (chunk_rows·m + r - 1) × in_w pixels of ldc
// values, zero outside the image. The image's rows are first laid out by pixel in `by_pixel`
// (one transpose of whole vectors), then copied row by row into place.
template <class T>
void pad_by_pixel(const Conv2dGeometry& g, const Tiling& t, const T* image, std::int64_t chunk, T* by_pixel, T* dst) {
  const std::int64_t rows = t.tile_rows(chunk) * t.m + t.r - 1, y0 = chunk * t.chunk_rows * t.m - g.pad_h;
  std::fill(dst, dst + rows * t.in_w * t.ldc, T(0));
  const std::int64_t y_lo = std::max<std::int64_t>(0, y0), y_hi = std::min(g.height, y0 + rows);
  const std::int64_t x_hi = std::min(g.width, t.in_w - g.pad_w);
  if (y_hi <= y_lo) return;
  typed_kernels<T>().transpose(g.channels, (y_hi - y_lo) * g.width, image + y_lo * g.width, g.height * g.width, by_pixel, t.ldc);
  for (std::int64_t y = y_lo; y < y_hi; ++y) {
    const T* src = by_pixel + (y - y_lo) * g.width * t.ldc;
    std::copy(src, src + x_hi * t.ldc, dst + ((y - y0) * t.in_w + g.pad_w) * t.ldc);
  }
}

// Output rows [y0, y1) between planes (`plane` apart, rows out_w pixels long) and whole tiles'
// rows by pixel (row_pixels ≥ out_w pixels of ldf values), towards the tiles or back: one
// transpose when the rows are the same length, else one per row.
template <class T>
void transpose_rows(const Tiling& t, std::int64_t planes, std::int64_t y0, std::int64_t y1, bool to_tiles, const T* src,
                    T* dst, std::int64_t plane) {
  const std::int64_t row_pixels = t.tiles_w * t.m;
  const bool whole = row_pixels == t.out_w;
  const std::int64_t pixels = whole ? (y1 - y0) * t.out_w : t.out_w;
  const auto& kernels = typed_kernels<T>();
  for (std::int64_t y = y0; y < (whole ? y0 + 1 : y1); ++y) {
    const std::int64_t in_planes = y * t.out_w, in_tiles = (y - y0) * row_pixels * t.ldf;
    if (to_tiles) kernels.transpose(planes, pixels, src + in_planes, plane, dst + in_tiles, t.ldf);
    else kernels.transpose(pixels, planes, src + in_tiles, t.ldf, dst + in_planes, plane);
  }
}

// Job for one chunk's input tiles: padded pixels to V (36 positions × tiles × ldc).
template <class T>
WinogradTransform<T> input_tiles(const Tiling& t, std::int64_t chunk, std::int64_t channels, const T* padded, T* v) {
  const std::int64_t tiles = t.tile_rows(chunk) * t.tiles_w;
  return {WinogradMatrix::input, static_cast<int>(t.r), t.tile_rows(chunk), t.tiles_w, channels,
          padded, t.m * t.in_w * t.ldc, t.m * t.ldc, t.in_w * t.ldc, t.ldc,
          v, t.tiles_w * t.ldc, t.ldc, kTile * tiles * t.ldc, tiles * t.ldc, nullptr};
}

bool winograd_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("STHENO_WINOGRAD");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

}  // namespace

bool winograd_applies(const Conv2dGeometry& g, const ConvShapes& s) {
  // Few channels or filters make the products over channels too short to pay for the transforms.
  constexpr std::int64_t kMinChannels = 16;
  return winograd_enabled() && g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         g.kernel_h == g.kernel_w && (g.kernel_h == 3 || g.kernel_h == 5) && g.channels >= kMinChannels &&
         s.f >= kMinChannels;
}

template <class T>
void winograd_conv(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* weights, const T* bias, T* out) {
  const Tiling t = Tiling::of<T>(g, s);
  const std::int64_t c_count = g.channels, taps = t.r * t.r;
  const auto& kernels = typed_kernels<T>();
  // U = G·g·Gᵀ for every (filter, channel), laid out (36 positions, channels, ldf filters).
  T* u = part_scratch<T>(ScratchSlot::winograd_shared, kPositions * c_count * t.ldf + c_count * taps * t.ldf);
  T* by_filter = u + kPositions * c_count * t.ldf;  // the weights as (channel, tap, ldf filters)
  kernels.transpose(s.f, c_count * taps, weights, s.k, by_filter, t.ldf);
  kernels.winograd_transform({WinogradMatrix::filter, static_cast<int>(t.r), c_count, 1, s.f, by_filter, taps * t.ldf,
                              0, t.r * t.ldf, t.ldf, u, t.ldf, 0, kTile * c_count * t.ldf, c_count * t.ldf, nullptr});
  const std::int64_t units = s.n * t.chunks;
  parallel_for(units, threads_for(s.n * s.f * s.k * s.p, units), [&](std::int64_t begin, std::int64_t end, int) {
    T* image = part_scratch<T>(ScratchSlot::winograd_image, t.in_rows() * g.width * t.ldc);
    T* padded = part_scratch<T>(ScratchSlot::winograd_pixels, std::max(t.in_rows() * t.in_w * t.ldc, t.chunk_rows * t.m * t.tiles_w * t.m * t.ldf));
    T* v = part_scratch<T>(ScratchSlot::winograd_tiles, kPositions * t.max_tiles() * t.ldc);
    T* products = part_scratch<T>(ScratchSlot::winograd_products, kPositions * t.max_tiles() * t.ldf);
    for (std::int64_t unit = begin; unit < end; ++unit) {
      const std::int64_t i = unit / t.chunks, chunk = unit % t.chunks, rows = t.tile_rows(chunk), tiles = rows * t.tiles_w;
      pad_by_pixel(g, t, x + i * s.image, chunk, image, padded);
      kernels.winograd_transform(input_tiles(t, chunk, c_count, padded, v));
      for (std::int64_t q = 0; q < kPositions; ++q)
        gemm<T>(false, false, tiles, s.f, c_count, T(1), v + q * tiles * t.ldc, t.ldc, u + q * c_count * t.ldf, t.ldf, T(0),
                products + q * tiles * t.ldf, t.ldf);
      // Aᵀ·M·A into whole tiles of outputs by pixel (reusing the padded pixels' scratch), then
      // the pixels inside the image to their planes.
      T* outputs = padded;
      const std::int64_t row_pixels = t.tiles_w * t.m;
      kernels.winograd_transform({WinogradMatrix::output, static_cast<int>(t.r), rows, t.tiles_w, s.f, products,
                                  t.tiles_w * t.ldf, t.ldf, kTile * tiles * t.ldf, tiles * t.ldf, outputs,
                                  t.m * row_pixels * t.ldf, t.m * t.ldf, row_pixels * t.ldf, t.ldf, bias});
      const std::int64_t y0 = chunk * t.chunk_rows * t.m, y1 = std::min(t.out_h, y0 + rows * t.m);
      transpose_rows(t, s.f, y0, y1, false, outputs, out + i * s.output, s.p);
    }
  });
}

template <class T>
void winograd_weight_grad(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* grad, T* dweight) {
  const Tiling t = Tiling::of<T>(g, s);
  const std::int64_t c_count = g.channels, taps = t.r * t.r, sum_size = kPositions * c_count * t.ldf;
  const auto& kernels = typed_kernels<T>();
  const int parts = threads_for(s.n * s.f * s.k * s.p, s.n);
  // Each part sums Vᵀ·(A·dy·Aᵀ) over its images into its own (36, channels, ldf) block; the
  // blocks are added in part order, so the result does not depend on timing.
  T* sums = part_scratch<T>(ScratchSlot::winograd_shared, parts * sum_size + c_count * taps * t.ldf);
  std::fill(sums, sums + parts * sum_size, T(0));
  parallel_for(s.n, parts, [&](std::int64_t begin, std::int64_t end, int part) {
    T* image = part_scratch<T>(ScratchSlot::winograd_image, t.in_rows() * g.width * t.ldc);
    T* padded = part_scratch<T>(ScratchSlot::winograd_pixels, t.in_rows() * t.in_w * t.ldc);
    T* grads = part_scratch<T>(ScratchSlot::winograd_grads, t.chunk_rows * t.m * t.tiles_w * t.m * t.ldf);
    T* v = part_scratch<T>(ScratchSlot::winograd_tiles, kPositions * t.max_tiles() * t.ldc);
    T* products = part_scratch<T>(ScratchSlot::winograd_products, kPositions * t.max_tiles() * t.ldf);
    T* acc = sums + part * sum_size;
    const std::int64_t row_pixels = t.tiles_w * t.m;
    for (std::int64_t i = begin; i < end; ++i)
      for (std::int64_t chunk = 0; chunk < t.chunks; ++chunk) {
        const std::int64_t rows = t.tile_rows(chunk), tiles = rows * t.tiles_w;
        pad_by_pixel(g, t, x + i * s.image, chunk, image, padded);
        kernels.winograd_transform(input_tiles(t, chunk, c_count, padded, v));
        // The chunk's output gradient by pixel, zero past the image's edge, then A·dy·Aᵀ.
        const std::int64_t y0 = chunk * t.chunk_rows * t.m, y1 = std::min(t.out_h, y0 + rows * t.m);
        std::fill(grads, grads + rows * t.m * row_pixels * t.ldf, T(0));
        transpose_rows(t, s.f, y0, y1, true, grad + i * s.output, grads, s.p);
        kernels.winograd_transform({WinogradMatrix::output_grad, static_cast<int>(t.r), rows, t.tiles_w, s.f, grads,
                                    t.m * row_pixels * t.ldf, t.m * t.ldf, row_pixels * t.ldf, t.ldf, products,
                                    t.tiles_w * t.ldf, t.ldf, kTile * tiles * t.ldf, tiles * t.ldf, nullptr});
        for (std::int64_t q = 0; q < kPositions; ++q)
          gemm<T>(true, false, c_count, s.f, tiles, T(1), v + q * tiles * t.ldc, t.ldc, products + q * tiles * t.ldf, t.ldf,
                  T(1), acc + q * c_count * t.ldf, t.ldf);
      }
  });
  for (int part = 1; part < parts; ++part)
    for (std::int64_t j = 0; j < sum_size; ++j) sums[j] += sums[part * sum_size + j];
  // dg = Gᵀ·dU·G, by (channel, tap, ldf filters), then into dweight's (filter, channel·tap) rows.
  T* by_filter = sums + parts * sum_size;
  kernels.winograd_transform({WinogradMatrix::filter_grad, static_cast<int>(t.r), c_count, 1, s.f, sums, t.ldf, 0,
                              kTile * c_count * t.ldf, c_count * t.ldf, by_filter, taps * t.ldf, 0, t.r * t.ldf, t.ldf,
                              nullptr});
  kernels.transpose(c_count * taps, s.f, by_filter, t.ldf, dweight, s.k);
}

template void winograd_conv<float>(const Conv2dGeometry&, const ConvShapes&, const float*, const float*, const float*, float*);
template void winograd_conv<double>(const Conv2dGeometry&, const ConvShapes&, const double*, const double*, const double*,
                                    double*);
template void winograd_weight_grad<float>(const Conv2dGeometry&, const ConvShapes&, const float*, const float*, float*);
template void winograd_weight_grad<double>(const Conv2dGeometry&, const ConvShapes&, const double*, const double*, double*);

}  // namespace stheno::cpu
