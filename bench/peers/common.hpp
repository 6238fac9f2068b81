// Shared by the C++ peers: the command line, the workload constants, the IDX reader, and W5's
// timing (which stheno's side uses too).
// Depends on nothing but the standard library, so that each peer includes only its framework.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace peers {

// W1: the seed documents' network (Nielsen's network.py on Fashion-MNIST).
inline constexpr int w1_hidden = 30, w1_batch = 10;
inline constexpr double w1_lr = 3.0;
inline constexpr int w1_train = 50'000, w1_test = 10'000, w1_quick_train = 2'000, w1_quick_test = 1'000;

// W2: the GPU talk's network, on the CPU.
inline constexpr int w2_hidden = 1000, w2_batch = 128, w2_warmup_steps = 3, w2_steps = 200, w2_quick_steps = 10;
inline constexpr double w2_lr = 0.1;
inline constexpr int w2_eval_batch = 1000, w2_warmup_eval_batches = 2;

struct Args {
    std::string workload, data;
    int threads = 1;
    bool quick = false;
    std::uint64_t seed = 1;
};

inline Args parse_args(int argc, char** argv) {
    Args a;
    auto fail = [&](const std::string& why) {
        std::fprintf(stderr, "%s: %s\nusage: %s --workload W1|W2 --data DIR [--threads N] [--quick] [--seed S]\n",
                     argv[0], why.c_str(), argv[0]);
        std::exit(2);
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail(std::string(flag) + " needs a value");
            return argv[++i];
        };
        if (flag == "--workload") a.workload = value();
        else if (flag == "--data") a.data = value();
        else if (flag == "--threads") a.threads = std::stoi(value());
        else if (flag == "--seed") a.seed = std::stoull(value());
        else if (flag == "--quick") a.quick = true;
        else fail("unknown flag " + std::string(flag));
    }
    if (a.workload != "W1" && a.workload != "W2") fail("--workload must be W1 or W2");
    if (a.data.empty()) fail("--data is required");
    if (a.threads < 1) fail("--threads must be at least 1");
    return a;
}

// An unsigned-byte IDX file: its dimensions and its bytes.
struct Idx {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> bytes;
};

inline Idx read_idx(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path + " (run bench/prepare_data.py)");
    std::vector<std::uint8_t> raw{std::istreambuf_iterator<char>(in), {}};
    if (raw.size() < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08)
        throw std::runtime_error(path + ": not an unsigned-byte IDX file");
    Idx idx;
    std::size_t offset = 4;
    for (int d = 0; d < raw[3]; ++d, offset += 4)
        idx.dims.push_back(std::uint32_t(raw[offset]) << 24 | std::uint32_t(raw[offset + 1]) << 16 |
                           std::uint32_t(raw[offset + 2]) << 8 | raw[offset + 3]);
    idx.bytes.assign(raw.begin() + std::ptrdiff_t(offset), raw.end());
    return idx;
}

// The first `limit` images of a split ("train" or "t10k") as row-major floats in [0, 1].
struct Split {
    int count = 0, pixels = 0;
    std::vector<float> images;
    std::vector<std::uint8_t> labels;
};

inline Split load_split(const std::string& dir, const std::string& split, int limit) {
    Idx images = read_idx(dir + "/" + split + "-images-idx3-ubyte");
    Idx labels = read_idx(dir + "/" + split + "-labels-idx1-ubyte");
    Split s;
    s.count = std::min<int>(limit, int(images.dims.at(0)));
    s.pixels = int(images.dims.at(1) * images.dims.at(2));
    s.images.resize(std::size_t(s.count) * s.pixels);
    for (std::size_t i = 0; i < s.images.size(); ++i) s.images[i] = images.bytes[i] / 255.0f;
    s.labels.assign(labels.bytes.begin(), labels.bytes.begin() + s.count);
    return s;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// W5's timing, the same for stheno and its C++ peers: `call(i)` answers single image i (a new
// one each call) and returns a score, summed so that no call can be skipped; after a warm-up,
// `calls` timed calls; prints one JSON line with their p50 and p99 in microseconds.
template <class Call>
void time_single_calls(const std::string& model, const std::string& form, long calls, Call&& call) {
    double checksum = 0;
    for (long i = 0; i < std::min(calls / 10 + 10, 500L); ++i) checksum += call(i);
    std::vector<double> us(static_cast<std::size_t>(calls));
    for (long i = 0; i < calls; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        checksum += call(i);
        us[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[static_cast<std::size_t>(p * static_cast<double>(calls - 1))]; };
    std::printf("{\"model\": \"%s\", \"form\": \"%s\", \"p50_us\": %.2f, \"p99_us\": %.2f, \"calls\": %ld, \"checksum\": %.4g}\n",
                model.c_str(), form.c_str(), pct(0.5), pct(0.99), calls, checksum);
    std::fflush(stdout);
}

}  // namespace peers
