#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <thread>

#include "allocation_counter.hpp"
#include "stheno/data/dataset.hpp"
#include "stheno/data/idx.hpp"
#include "stheno/data/loader.hpp"
#include "stheno/data/mnist.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;
using namespace stheno::data;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

// A fresh directory per test, removed with everything in it afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "stheno-data-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// An IDX file's bytes: the magic number (0, 0, type, rank), big-endian dimensions, then `data`.
Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& data, std::uint8_t type = 0x08) {
  Bytes bytes = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (const std::uint32_t d : dims)
    for (const int shift : {24, 16, 8, 0}) bytes.push_back(static_cast<std::uint8_t>(d >> shift));
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Bytes counting_bytes(std::size_t n) {
  Bytes bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i);
  return bytes;
}

void write_plain(const std::string& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                               static_cast<std::streamsize>(bytes.size()));
}

std::uint32_t crc32_of(const Bytes& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const std::uint8_t byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void append_little_endian(Bytes& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// A gzip file whose deflate stream is made of "stored" (uncompressed) blocks: what gzread reads
// is a real gzip file, but writing it needs no compressor, so the tests need not link zlib.
Bytes gzip_stored(const Bytes& data) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};  // magic, deflate, no flags, no time, unknown OS
  std::size_t at = 0;
  do {
    const auto length = static_cast<std::uint32_t>(std::min<std::size_t>(data.size() - at, 0xFFFF));
    out.push_back(at + length == data.size() ? 1 : 0);  // "final block" bit, block type 0 (stored)
    append_little_endian(out, length, 2);
    append_little_endian(out, ~length & 0xFFFF, 2);
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(at),
               data.begin() + static_cast<std::ptrdiff_t>(at + length));
    at += length;
  } while (at < data.size());
  append_little_endian(out, crc32_of(data), 4);
  append_little_endian(out, static_cast<std::uint32_t>(data.size()), 4);
  return out;
}

void write_gzip(const std::string& path, const Bytes& bytes) { write_plain(path, gzip_stored(bytes)); }

// The message of the IOError that `f` throws, or a note saying what happened instead.
std::string io_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const IOError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an IOError: ") + e.what() + ">";
  }
  return "<no error>";
}

std::string read_error_of(const std::string& path) {
  return io_error_of([&] { read_idx(path); });
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// --- read_idx ----------------------------------------------------------------------------------

TEST(Idx, ReadsPlainAndGzipFiles) {
  TempDir dir;
  const Bytes data = counting_bytes(2 * 3 * 4);
  write_plain(dir.file("plain"), idx_bytes({2, 3, 4}, data));
  write_gzip(dir.file("packed.gz"), idx_bytes({2, 3, 4}, data));
  for (const std::string name : {"plain", "packed.gz"}) {
    const IdxArray array = read_idx(dir.file(name));
    EXPECT_EQ(array.shape, (Shape{2, 3, 4})) << name;
    EXPECT_EQ(array.bytes, data) << name;
  }
  write_plain(dir.file("vector"), idx_bytes({5}, {9, 8, 7, 6, 5}));
  EXPECT_EQ(read_idx(dir.file("vector")).shape, Shape{5});
}

TEST(Idx, RejectsAWrongMagicNumber) {
  TempDir dir;
  Bytes bytes = idx_bytes({4}, counting_bytes(4));
  bytes[0] = 0x12;
  bytes[1] = 0x34;
  write_plain(dir.file("bad"), bytes);
  const std::string message = read_error_of(dir.file("bad"));
  EXPECT_TRUE(contains(message, dir.file("bad"))) << message;
  EXPECT_TRUE(contains(message, "byte 0")) << message;
  EXPECT_TRUE(contains(message, "12 34 08 01")) << message;
  EXPECT_TRUE(contains(message, "expected 00 00")) << message;

  write_plain(dir.file("rank5"), idx_bytes({1, 1, 1, 1, 1}, {0}));
  EXPECT_TRUE(contains(read_error_of(dir.file("rank5")), "00 00 08 05")) << read_error_of(dir.file("rank5"));
}

TEST(Idx, RejectsTypesOtherThanUnsignedByte) {
  TempDir dir;
  write_plain(dir.file("floats"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  const std::string message = read_error_of(dir.file("floats"));
  EXPECT_TRUE(contains(message, dir.file("floats"))) << message;
  EXPECT_TRUE(contains(message, "byte 2")) << message;
  EXPECT_TRUE(contains(message, "type code 0x0d (float32)")) << message;
  EXPECT_TRUE(contains(message, "expected 0x08")) << message;
}

TEST(Idx, RejectsAZeroDimension) {
  TempDir dir;
  write_plain(dir.file("empty"), idx_bytes({3, 0, 2}, {}));
  const std::string message = read_error_of(dir.file("empty"));
  EXPECT_TRUE(contains(message, dir.file("empty"))) << message;
  EXPECT_TRUE(contains(message, "byte 8: dimension 1 is 0")) << message;
}

TEST(Idx, ReportsWhereATruncatedFileEnds) {
  TempDir dir;
  // A 16-byte header and 24 data bytes are needed; 20 are there.
  const Bytes short_file = idx_bytes({2, 3, 4}, counting_bytes(20));
  write_plain(dir.file("short"), short_file);
  const std::string message = read_error_of(dir.file("short"));
  EXPECT_TRUE(contains(message, dir.file("short"))) << message;
  EXPECT_TRUE(contains(message, "ends at byte 36, but the dimensions (2, 3, 4) require 40 bytes")) << message;

  write_gzip(dir.file("short.gz"), short_file);
  EXPECT_TRUE(contains(read_error_of(dir.file("short.gz")), "ends at byte 36 of the decompressed data"))
      << read_error_of(dir.file("short.gz"));

  write_plain(dir.file("header"), Bytes{0, 0, 8, 2, 0, 0});
  EXPECT_TRUE(contains(read_error_of(dir.file("header")), "ends at byte 6, inside the 12-byte header"))
      << read_error_of(dir.file("header"));
}

TEST(Idx, RejectsTrailingBytes) {
  TempDir dir;
  write_plain(dir.file("long"), idx_bytes({2, 3, 4}, counting_bytes(27)));
  const std::string message = read_error_of(dir.file("long"));
  EXPECT_TRUE(contains(message, dir.file("long"))) << message;
  EXPECT_TRUE(contains(message, "3 unexpected bytes after byte 40")) << message;
}

TEST(Idx, ReportsAGzipStreamCutShort) {
  TempDir dir;
  const Bytes packed = gzip_stored(idx_bytes({100, 100}, counting_bytes(10000)));
  write_plain(dir.file("cut.gz"), Bytes(packed.begin(), packed.begin() + 5000));
  const std::string message = read_error_of(dir.file("cut.gz"));
  EXPECT_TRUE(contains(message, dir.file("cut.gz"))) << message;
  EXPECT_TRUE(contains(message, "the gzip stream ends early, at byte 5000 of the file")) << message;
  EXPECT_TRUE(contains(message, "unexpected end of file")) << message;
}

TEST(Idx, RejectsBytesAfterTheGzipStream) {
  TempDir dir;
  const Bytes packed = gzip_stored(idx_bytes({2, 3}, counting_bytes(6)));
  Bytes longer = packed;
  longer.insert(longer.end(), {'j', 'u', 'n', 'k'});
  write_plain(dir.file("long.gz"), longer);
  const std::string message = read_error_of(dir.file("long.gz"));
  EXPECT_TRUE(contains(message, dir.file("long.gz"))) << message;
  EXPECT_TRUE(contains(message, "4 unexpected bytes after the end of the gzip stream at byte " +
                                    std::to_string(packed.size()) + " of the file"))
      << message;
}

TEST(Idx, ReportsABadGzipChecksumWhereItIs) {
  TempDir dir;
  Bytes packed = gzip_stored(idx_bytes({2, 3}, counting_bytes(6)));
  packed[packed.size() - 8] ^= 0xff;  // the CRC-32 of the trailer
  write_plain(dir.file("crc.gz"), packed);
  const std::string message = read_error_of(dir.file("crc.gz"));
  EXPECT_TRUE(contains(message, dir.file("crc.gz"))) << message;
  EXPECT_TRUE(contains(message, "the gzip data is corrupt at byte")) << message;
  EXPECT_TRUE(contains(message, "after 18 decompressed bytes: incorrect data check")) << message;
  EXPECT_FALSE(contains(message, "past byte 0")) << message;
}

TEST(Idx, RejectsDimensionsBeyondTheLimitWhateverTheirProductWrapsTo) {
  TempDir dir;
  // 2^64 elements wrap to 0 in 64 bits; 2^36 fit but exceed the limit.
  for (const std::vector<std::uint32_t>& dims :
       {std::vector<std::uint32_t>{65536, 65536, 65536, 65536}, std::vector<std::uint32_t>{65536, 65536, 16}}) {
    write_plain(dir.file("big"), idx_bytes(dims, counting_bytes(3)));
    const std::string message = read_error_of(dir.file("big"));
    EXPECT_TRUE(contains(message, "byte 4: dimensions")) << message;
    EXPECT_TRUE(contains(message, "more than 2^34 elements")) << message;
  }
}

TEST(Idx, ParsesFromMemoryExactlyAsFromTheFile) {
  const Bytes plain = idx_bytes({2, 3}, counting_bytes(6));
  for (const Bytes& bytes : {plain, gzip_stored(plain)}) {
    const IdxArray array = parse_idx(bytes.data(), bytes.size(), "memory");
    EXPECT_EQ(array.shape, Shape({2, 3}));
    EXPECT_EQ(array.bytes, counting_bytes(6));
    const Bytes cut(bytes.begin(), bytes.end() - 1);
    EXPECT_TRUE(contains(io_error_of([&] { parse_idx(cut.data(), cut.size(), "memory"); }), "read_idx: memory: "));
  }
}

TEST(Idx, NamesAMissingFile) {
  TempDir dir;
  const std::string message = read_error_of(dir.file("absent"));
  EXPECT_TRUE(contains(message, dir.file("absent"))) << message;
  EXPECT_TRUE(contains(message, "No such file or directory")) << message;
}

// --- load_mnist on small files -----------------------------------------------------------------

namespace {

struct FakeSplit {
  std::uint32_t images, rows, columns;
  Bytes labels;
};

// Writes a complete MNIST directory, the train files plain and the test files gzip'd; pixel i of
// each images file is i % 256.
void write_mnist(const TempDir& dir, const FakeSplit& train, const FakeSplit& test) {
  write_plain(dir.file("train-images-idx3-ubyte"),
              idx_bytes({train.images, train.rows, train.columns}, counting_bytes(train.images * train.rows * train.columns)));
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_bytes({static_cast<std::uint32_t>(train.labels.size())}, train.labels));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"),
             idx_bytes({test.images, test.rows, test.columns}, counting_bytes(test.images * test.rows * test.columns)));
  write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({static_cast<std::uint32_t>(test.labels.size())}, test.labels));
}

std::string load_error_of(const TempDir& dir) {
  return io_error_of([&] { load_mnist(dir.str()); });
}

}  // namespace

TEST(MnistFiles, LoadsPlainAndGzipFilesScaledToUnitRange) {
  TempDir dir;
  write_mnist(dir, {3, 2, 2, {1, 0, 9}}, {2, 2, 2, {4, 5}});
  const Mnist mnist = load_mnist(dir.str());
  EXPECT_EQ(mnist.train.images.shape(), (Shape{3, 4}));
  EXPECT_EQ(mnist.train.images.dtype(), DType::f32);
  EXPECT_FLOAT_EQ(mnist.train.images.at({2, 3}), 11.0f / 255.0f);
  EXPECT_EQ(mnist.train.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 0, 9}));
  EXPECT_EQ(mnist.test.images.shape(), (Shape{2, 4}));
  EXPECT_EQ(mnist.test.labels.dtype(), DType::i32);
  EXPECT_EQ(mnist.test.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{4, 5}));
}

TEST(MnistFiles, ListsTheNamesOfAMissingFile) {
  TempDir dir;
  const std::string message = load_error_of(dir);
  EXPECT_TRUE(contains(message, dir.str())) << message;
  EXPECT_TRUE(contains(message, "neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz")) << message;
  EXPECT_TRUE(contains(io_error_of([&] { load_mnist(dir.file("nowhere")); }), "is not a directory"));
}

TEST(MnistFiles, RejectsALabelCountThatDiffersFromTheImageCount) {
  TempDir dir;
  write_mnist(dir, {3, 2, 2, {1, 2}}, {1, 2, 2, {0}});
  const std::string message = load_error_of(dir);
  EXPECT_TRUE(contains(message, dir.file("train-labels-idx1-ubyte") + " holds 2 labels")) << message;
  EXPECT_TRUE(contains(message, dir.file("train-images-idx3-ubyte") + " holds 3 images")) << message;
}

TEST(MnistFiles, RejectsALabelAboveNine) {
  TempDir dir;
  write_mnist(dir, {2, 2, 2, {1, 2}}, {2, 2, 2, {3, 10}});
  const std::string message = load_error_of(dir);
  EXPECT_TRUE(contains(message, dir.file("t10k-labels-idx1-ubyte.gz"))) << message;
  EXPECT_TRUE(contains(message, "label 1 is 10 (expected 0 to 9)")) << message;
}

TEST(MnistFiles, RejectsImagesThatAreNotRank3) {
  TempDir dir;
  write_mnist(dir, {2, 2, 2, {1, 2}}, {2, 2, 2, {3, 4}});
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({2, 4}, counting_bytes(8)));
  const std::string message = load_error_of(dir);
  EXPECT_TRUE(contains(message, dir.file("train-images-idx3-ubyte") + " holds an array of shape (2, 4)")) << message;
  EXPECT_TRUE(contains(message, "expected rank 3")) << message;
}

// --- the real Fashion-MNIST --------------------------------------------------------------------

class MnistFashion : public ::testing::Test {
 protected:
  // Loaded once for the suite: decompressing the files takes most of a second.
  static void SetUpTestSuite() {
    if (fs::is_directory(kDefaultMnistDirectory)) mnist_ = new Mnist(load_mnist(kDefaultMnistDirectory));
  }
  static void TearDownTestSuite() {
    delete mnist_;
    mnist_ = nullptr;
  }
  void SetUp() override {
    if (mnist_ == nullptr) GTEST_SKIP() << kDefaultMnistDirectory << " does not exist";
  }

  static void expect_split(const MnistSplit& split, std::int64_t count) {
    EXPECT_EQ(split.images.shape(), (Shape{count, 784}));
    EXPECT_EQ(split.labels.shape(), Shape{count});
    EXPECT_GE(-max(neg(split.images)).item<float>(), 0.0f);
    EXPECT_LE(max(split.images).item<float>(), 1.0f);
    std::vector<std::int64_t> per_class(10);
    for (const std::int32_t label : split.labels.to_vector<std::int32_t>()) {
      ASSERT_GE(label, 0);
      ASSERT_LT(label, 10);
      ++per_class[static_cast<std::size_t>(label)];
    }
    for (std::size_t c = 0; c < per_class.size(); ++c) EXPECT_GT(per_class[c], 0) << "class " << c;
  }

  static inline Mnist* mnist_ = nullptr;
};

TEST_F(MnistFashion, TrainSplitHas60000ImagesOf784PixelsInUnitRange) { expect_split(mnist_->train, 60000); }

TEST_F(MnistFashion, TestSplitHas10000ImagesOf784PixelsInUnitRange) { expect_split(mnist_->test, 10000); }

// --- TensorDataset and normalisation -----------------------------------------------------------

namespace {

// Sample i has input (i, -i) and label i % 7, so a batch shows which samples it holds.
TensorDataset numbered_dataset(std::int64_t count) {
  std::vector<float> inputs;
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < count; ++i) {
    inputs.insert(inputs.end(), {static_cast<float>(i), static_cast<float>(-i)});
    labels.push_back(static_cast<std::int32_t>(i % 7));
  }
  return TensorDataset(Tensor::from(inputs, {count, 2}), Tensor::from(labels));
}

}  // namespace

TEST(DatasetTensor, GathersRowsAndLabels) {
  const TensorDataset dataset = numbered_dataset(10);
  EXPECT_EQ(dataset.size(), 10);
  EXPECT_EQ(dataset.input_shape(), Shape{2});
  EXPECT_EQ(dataset.input_dtype(), DType::f32);
  const Tensor inputs = Tensor::empty({3, 2}), labels = Tensor::empty({3}, DType::i32);
  const std::vector<std::int64_t> indices = {9, 0, 4};
  dataset.gather(indices, inputs, labels);
  EXPECT_EQ(inputs.to_vector<float>(), (std::vector<float>{9, -9, 0, 0, 4, -4}));
  EXPECT_EQ(labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{2, 0, 4}));
  const Tensor strided = Tensor::empty({2, 3}).t();  // rows copied element by element
  dataset.gather(indices, strided, labels);
  EXPECT_EQ(strided.contiguous().to_vector<float>(), (std::vector<float>{9, -9, 0, 0, 4, -4}));

  const std::vector<std::int64_t> outside = {1, 10, 2};
  EXPECT_THROW(dataset.gather(outside, inputs, labels), IndexError);
  EXPECT_THROW(dataset.gather(indices, Tensor::empty({3, 3}), labels), ShapeError);
  EXPECT_THROW(dataset.gather(indices, Tensor::empty({3, 2}, DType::f64), labels), DTypeError);
}

TEST(DatasetTensor, LimitUsesTheFirstSamplesAndSizesMustAgree) {
  const Tensor inputs = Tensor::zeros({5, 3}), labels = Tensor::zeros({5}, DType::i32);
  EXPECT_EQ(TensorDataset(inputs, labels, 2).size(), 2);
  EXPECT_EQ(TensorDataset(inputs, labels).size(), 5);
  EXPECT_THROW(TensorDataset(inputs, labels, 6), ValueError);
  EXPECT_THROW(TensorDataset(inputs, Tensor::zeros({4}, DType::i32)), ShapeError);
  EXPECT_THROW(TensorDataset(inputs, Tensor::zeros({5})), DTypeError);
}

TEST(DatasetNormalize, GivesZeroMeanAndUnitStddev) {
  Generator gen(8);
  const Tensor images = Tensor::uniform({100, 7}, gen, 2.0, 5.0);
  const auto [mean, stddev] = mean_and_stddev(images);
  EXPECT_NEAR(mean, 3.5, 0.1);
  EXPECT_NEAR(stddev, 3.0 / std::sqrt(12.0), 0.05);
  normalize(images, mean, stddev);
  const auto [new_mean, new_stddev] = mean_and_stddev(images);
  EXPECT_NEAR(new_mean, 0.0, 1e-6);
  EXPECT_NEAR(new_stddev, 1.0, 1e-6);
  EXPECT_THROW(normalize(images, 0.0, 0.0), ValueError);
  EXPECT_THROW(mean_and_stddev(Tensor::empty({0, 3})), ValueError);
}

// --- DataLoader --------------------------------------------------------------------------------

namespace {

// The sample numbers of every batch of one epoch, in order; checks each batch's labels and index.
std::vector<std::int64_t> epoch_order(DataLoader& loader, std::int64_t epoch, std::int64_t first_batch = 0) {
  loader.start_epoch(epoch, first_batch);
  std::vector<std::int64_t> order;
  std::int64_t expected_index = first_batch;
  while (const Batch* batch = loader.next()) {
    EXPECT_EQ(batch->index, expected_index++);
    const std::vector<float> inputs = batch->inputs.to_vector<float>();
    const std::vector<std::int32_t> labels = batch->labels.to_vector<std::int32_t>();
    for (std::size_t row = 0; row < labels.size(); ++row) {
      const auto sample = static_cast<std::int64_t>(inputs[2 * row]);
      EXPECT_EQ(labels[row], sample % 7);
      order.push_back(sample);
    }
  }
  EXPECT_EQ(expected_index, loader.batches_per_epoch());
  return order;
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> values) {
  std::sort(values.begin(), values.end());
  return values;
}

std::vector<std::int64_t> iota(std::int64_t count) {
  std::vector<std::int64_t> values(static_cast<std::size_t>(count));
  std::iota(values.begin(), values.end(), std::int64_t{0});
  return values;
}

// A dataset that counts gather() calls, optionally sleeping in each or failing on one batch.
class InstrumentedDataset : public Dataset {
 public:
  explicit InstrumentedDataset(std::int64_t count) : inner_(numbered_dataset(count)) {}
  std::int64_t size() const override { return inner_.size(); }
  Shape input_shape() const override { return inner_.input_shape(); }
  DType input_dtype() const override { return inner_.input_dtype(); }
  void gather(std::span<const std::int64_t> indices, const Tensor& inputs, const Tensor& labels) const override {
    ++calls;
    std::this_thread::sleep_for(delay);
    if (indices.front() == fail_at_sample) throw ValueError("disk on fire at sample " + std::to_string(fail_at_sample));
    inner_.gather(indices, inputs, labels);
  }

  mutable std::atomic<int> calls = 0;
  std::chrono::milliseconds delay{0};
  std::int64_t fail_at_sample = -1;

 private:
  TensorDataset inner_;
};

bool wait_for(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

TEST(LoaderOrder, EverySampleExactlyOncePerEpoch) {
  const TensorDataset dataset = numbered_dataset(103);
  DataLoader keep_last(dataset, {.batch_size = 10, .seed = 3});
  EXPECT_EQ(keep_last.batches_per_epoch(), 11);
  EXPECT_EQ(sorted(epoch_order(keep_last, 0)), iota(103));
  EXPECT_EQ(sorted(epoch_order(keep_last, 1)), iota(103));

  DataLoader drop_last(dataset, {.batch_size = 10, .seed = 3, .drop_last = true});
  EXPECT_EQ(drop_last.batches_per_epoch(), 10);
  const std::vector<std::int64_t> order = epoch_order(drop_last, 0);
  EXPECT_EQ(order.size(), 100u);
  const std::vector<std::int64_t> unique = sorted(order);
  EXPECT_EQ(std::adjacent_find(unique.begin(), unique.end()), unique.end());
}

TEST(LoaderOrder, DependsOnlyOnSeedAndEpoch) {
  const TensorDataset dataset = numbered_dataset(50);
  DataLoader first(dataset, {.batch_size = 8, .seed = 11}), second(dataset, {.batch_size = 8, .seed = 11});
  const std::vector<std::int64_t> epoch3 = epoch_order(first, 3);
  epoch_order(second, 0);  // another history before epoch 3 changes nothing
  EXPECT_EQ(epoch_order(second, 3), epoch3);
  EXPECT_NE(epoch_order(first, 4), epoch3);
  DataLoader other_seed(dataset, {.batch_size = 8, .seed = 12});
  EXPECT_NE(epoch_order(other_seed, 3), epoch3);
}

TEST(LoaderOrder, ResumingAtABatchReproducesTheTail) {
  const TensorDataset dataset = numbered_dataset(50);
  DataLoader loader(dataset, {.batch_size = 8, .seed = 5});
  const std::vector<std::int64_t> whole = epoch_order(loader, 2);
  const std::vector<std::int64_t> tail(whole.begin() + 4 * 8, whole.end());
  DataLoader resumed(dataset, {.batch_size = 8, .seed = 5});
  EXPECT_EQ(epoch_order(resumed, 2, 4), tail);
  EXPECT_TRUE(epoch_order(resumed, 2, resumed.batches_per_epoch()).empty());
  EXPECT_THROW(resumed.start_epoch(2, resumed.batches_per_epoch() + 1), IndexError);
}

TEST(LoaderOrder, WithoutShuffleIsTheIdentity) {
  const TensorDataset dataset = numbered_dataset(23);
  DataLoader loader(dataset, {.batch_size = 5, .shuffle = false});
  EXPECT_EQ(epoch_order(loader, 0), iota(23));
  EXPECT_EQ(epoch_order(loader, 7), iota(23));
}

TEST(LoaderOrder, RestartingMidEpochStartsAfresh) {
  const TensorDataset dataset = numbered_dataset(40);
  DataLoader loader(dataset, {.batch_size = 4, .seed = 2, .prefetch = 3});
  loader.start_epoch(0);
  ASSERT_NE(loader.next(), nullptr);
  ASSERT_NE(loader.next(), nullptr);
  EXPECT_EQ(sorted(epoch_order(loader, 1)), iota(40));
}

TEST(LoaderShards, EachRankTakesItsPartOfEveryGlobalBatch) {
  // 3 ranks × 4 = global batches of 12 from 103 samples: 8 of them, the same samples in the
  // same order as one loader with batches of 12, each rank holding a third of each.
  const TensorDataset dataset = numbered_dataset(103);
  DataLoader whole(dataset, {.batch_size = 12, .seed = 9, .drop_last = true});
  const std::vector<std::int64_t> global = epoch_order(whole, 4, 2);
  std::vector<std::vector<std::int64_t>> parts;
  for (int shard = 0; shard < 3; ++shard) {
    DataLoader part(dataset, {.batch_size = 4, .seed = 9, .drop_last = true, .shards = 3, .shard = shard});
    EXPECT_EQ(part.batches_per_epoch(), 8);
    parts.push_back(epoch_order(part, 4, 2));
    ASSERT_EQ(parts.back().size(), 6u * 4);
  }
  for (std::size_t batch = 0; batch < 6; ++batch)
    for (std::size_t shard = 0; shard < 3; ++shard)
      for (std::size_t row = 0; row < 4; ++row)
        EXPECT_EQ(parts[shard][batch * 4 + row], global[batch * 12 + shard * 4 + row]) << batch << " " << shard << " " << row;
}

TEST(LoaderOptionsCheck, RejectsBadOptionsAndNextBeforeStart) {
  const TensorDataset dataset = numbered_dataset(4);
  EXPECT_THROW(DataLoader(dataset, {.batch_size = 0}), ValueError);
  EXPECT_THROW(DataLoader(dataset, {.prefetch = -1}), ValueError);
  EXPECT_THROW(DataLoader(dataset, {.drop_last = true, .shards = 2, .shard = 2}), ValueError);
  EXPECT_THROW(DataLoader(dataset, {.shards = 2, .shard = 1}), ValueError);  // no drop_last
  DataLoader loader(dataset, {});
  EXPECT_THROW(loader.next(), ValueError);
}

TEST(LoaderPrefetch, PreparesBatchesAheadWhileTheCallerHoldsOne) {
  InstrumentedDataset dataset(100);
  DataLoader loader(dataset, {.batch_size = 10, .shuffle = false, .prefetch = 2});
  loader.start_epoch(0);
  const Batch* held = loader.next();
  ASSERT_NE(held, nullptr);
  // Batch 0 is held; batches 1 and 2 are prepared behind it, and no more.
  EXPECT_TRUE(wait_for([&] { return dataset.calls == 3; })) << dataset.calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(dataset.calls, 3);
  EXPECT_EQ(held->inputs.at({0, 0}), 0.0);
  ASSERT_NE(loader.next(), nullptr);
  EXPECT_TRUE(wait_for([&] { return dataset.calls == 4; })) << dataset.calls;
}

TEST(LoaderPrefetch, AllocatesNothingAfterTheFirstEpoch) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  const TensorDataset dataset = numbered_dataset(103);
  DataLoader loader(dataset, {.batch_size = 10, .seed = 1});
  epoch_order(loader, 0);
  std::int64_t batches = 0, allocations = 0;
  {
    stheno::testing::AllocationCounter counter;
    loader.start_epoch(1);
    while (loader.next() != nullptr) ++batches;
    allocations = counter.count();
  }
  EXPECT_EQ(batches, 11);
  EXPECT_EQ(allocations, 0);
}

TEST(LoaderShutdown, DestroyingMidEpochReturnsPromptly) {
  InstrumentedDataset dataset(1000);
  dataset.delay = std::chrono::milliseconds(20);
  const auto start = std::chrono::steady_clock::now();
  {
    DataLoader loader(dataset, {.batch_size = 10, .prefetch = 4});
    loader.start_epoch(0);
    ASSERT_NE(loader.next(), nullptr);
  }
  // 100 batches of 20 ms each would take 2 s; stopping waits for at most the batch in hand.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_LT(dataset.calls, 10);
}

TEST(LoaderErrors, AnExceptionInGatherReachesNext) {
  InstrumentedDataset dataset(50);
  dataset.fail_at_sample = 20;
  DataLoader loader(dataset, {.batch_size = 10, .shuffle = false});
  loader.start_epoch(0);
  ASSERT_NE(loader.next(), nullptr);
  ASSERT_NE(loader.next(), nullptr);
  try {
    loader.next();
    ADD_FAILURE() << "next() did not throw";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "disk on fire at sample 20");
  }
  EXPECT_THROW(loader.next(), ValueError);
  dataset.fail_at_sample = -1;
  EXPECT_EQ(epoch_order(loader, 0), iota(50));
}

// --- text corpora ------------------------------------------------------------------------------

TEST(TextCorpus, ParsesFromMemoryExactlyAsFromTheFile) {
  TempDir dir;
  const Bytes bytes = {'a', 'b', 0, 'c', 0xff};
  write_plain(dir.file("t.txt"), bytes);
  const std::string expected(bytes.begin(), bytes.end());
  EXPECT_EQ(parse_text(bytes.data(), bytes.size(), "memory"), expected);
  EXPECT_EQ(read_text(dir.file("t.txt")), expected);
}

TEST(TextCorpus, EmptyTextNamesTheSource) {
  TempDir dir;
  write_plain(dir.file("empty.txt"), {});
  EXPECT_TRUE(contains(io_error_of([&] { read_text(dir.file("empty.txt")); }), "empty.txt: holds no text"));
  EXPECT_TRUE(contains(io_error_of([&] { parse_text(nullptr, 0, "memory"); }), "memory: holds no text"));
}

namespace {

std::vector<std::uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

std::string libsvm_error(std::string_view text, const LibsvmOptions& options = {}) {
  try {
    parse_libsvm(bytes_of(text), "t.svm", options);
  } catch (const IOError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Libsvm, ReadsLabelsFeaturesQidAndComments) {
  const SparseSamples s = parse_libsvm(bytes_of("# a comment line\n"
                                                "+1 qid:3 1:0.5 4:2e-1   7:3\n"
                                                "\n"
                                                "-1 2:1 # trailing comment\n"
                                                "+1\r\n"),
                                       "t.svm");
  EXPECT_EQ(s.features.rows(), 3);
  EXPECT_EQ(s.features.cols(), 7);
  EXPECT_EQ(s.classes, (std::vector<double>{-1, 1}));
  EXPECT_EQ(s.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 0, 1}));
  const Tensor expected = Tensor::from<float>({0.5f, 0, 0, 0.2f, 0, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {3, 7});
  EXPECT_TRUE(allclose(s.features.to_dense(), expected, 0, 0));
}

TEST(Libsvm, TestFilesUseTheTrainingClassesAndFeatureCount) {
  const SparseSamples train = parse_libsvm(bytes_of("3 1:1\n7 2:1\n5 3:1\n"), "train.svm");
  LibsvmOptions options{10, train.classes};
  const SparseSamples test = parse_libsvm(bytes_of("7 9:1\n3 1:1\n"), "test.svm", options);
  EXPECT_EQ(test.features.cols(), 10);
  EXPECT_EQ(test.labels.to_vector<std::int32_t>(), (std::vector<std::int32_t>{2, 0}));
  EXPECT_NE(libsvm_error("3 1:1\n4 1:1\n", options).find("t.svm:2: label 4 is not one of the training classes (3, 5, 7)"),
            std::string::npos);
  EXPECT_NE(libsvm_error("3 11:1\n", options).find("t.svm:1: index 11 is past the 10 features"), std::string::npos);
}

TEST(Libsvm, BadLinesAreRejectedNamingTheLine) {
  EXPECT_NE(libsvm_error("1 1:1\n1 0:1\n").find("t.svm:2: index 0: indices run from 1"), std::string::npos);
  EXPECT_NE(libsvm_error("1 3:1 2:1\n").find("t.svm:1: index 2 after index 3: indices must increase"), std::string::npos);
  EXPECT_NE(libsvm_error("1 3:1 3:1\n").find("index 3 after index 3"), std::string::npos);
  EXPECT_NE(libsvm_error("1 3\n").find("t.svm:1: expected index:value, got '3'"), std::string::npos);
  EXPECT_NE(libsvm_error("1 3:x\n").find("value 'x' is not a finite number"), std::string::npos);
  EXPECT_NE(libsvm_error("1 3:nan\n").find("value 'nan' is not a finite number"), std::string::npos);
  EXPECT_NE(libsvm_error("a 3:1\n").find("label 'a' is not a finite number"), std::string::npos);
  EXPECT_NE(libsvm_error("1 2.5:1\n").find("index '2.5' is not a whole number"), std::string::npos);
  EXPECT_NE(libsvm_error("1 99999999999:1\n").find("indices run from 1 to 2^31 - 1"), std::string::npos);
  EXPECT_NE(libsvm_error("1 1:1 qid:2\n").find("qid must come right after the label"), std::string::npos);
  EXPECT_NE(libsvm_error("# nothing\n\n").find("t.svm: no samples"), std::string::npos);
  EXPECT_NE(libsvm_error("").find("no samples"), std::string::npos);
}

TEST(Libsvm, ReadsAFileAndNamesItInErrors) {
  TempDir dir;
  const std::string path = dir.file("train.svm");
  std::ofstream(path) << "0 1:1 3:2\n1 2:1\n";
  const SparseSamples s = read_libsvm(path);
  EXPECT_EQ(s.features.nnz(), 3);
  std::ofstream(path) << "0 1:1\n1 x:1\n";
  EXPECT_THROW(
      {
        try {
          read_libsvm(path);
        } catch (const IOError& e) {
          EXPECT_NE(std::string(e.what()).find(path + ":2: index 'x'"), std::string::npos) << e.what();
          throw;
        }
      },
      IOError);
  EXPECT_THROW(read_libsvm(dir.file("missing.svm")), IOError);
}
