#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "reference.hpp"
#include "stheno/io/atomic_file.hpp"
#include "stheno/io/safetensors.hpp"

using namespace stheno;
using stheno::io::NamedTensor;
using stheno::testing::values;
namespace fs = std::filesystem;

namespace {

// Every test gets its own empty directory, removed afterwards, so tests cannot see each other's
// files and a check like "no temporary files are left" means exactly what it says.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("stheno-io-" + std::to_string(::getpid()) + "-" +
                                        info->test_suite_name() + "-" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::vector<std::string> files_in_dir() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

class AtomicFile : public TempDirTest {};
class SafetensorsRoundTrip : public TempDirTest {};
class SafetensorsLayout : public TempDirTest {};
class SafetensorsInterop : public TempDirTest {};
class SafetensorsBadFile : public TempDirTest {};
class SafetensorsSave : public TempDirTest {};
class SafetensorsLoadInto : public TempDirTest {};
class SafetensorsHostileFile : public TempDirTest {};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i)
    s[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A file as some other writer might produce it: `header` verbatim (padded with spaces to the
// 8-byte boundary when asked), then `data`.
std::string safetensors_bytes(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

// The file offset of `text` inside a header written by safetensors_bytes.
std::uint64_t header_byte(const std::string& header, const std::string& text) {
  const auto at = header.find(text);
  EXPECT_NE(at, std::string::npos) << text;
  return 8 + at;
}

// Runs `fn`, expects it to throw E, and checks that the message contains every one of `parts`.
template <class E, class Fn>
void expect_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception, nothing was thrown";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "message:\n"
                                                       << message << "\nlacks: " << part;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected a different exception type; got: " << e.what();
  }
}

template <class T>
bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<T> x = a.to_vector<T>();
  const std::vector<T> y = b.to_vector<T>();
  // Bits, not values: NaN payloads and the sign of zero must survive the round trip too.
  return x.size() == y.size() &&
         (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
  return visit_dtype(a.dtype(), [&]<class T>() { return same_bits<T>(a, b); });
}

// ---------------------------------------------------------------------------------------------
// write_file_atomically

TEST_F(AtomicFile, WritesExactlyTheBytesGiven) {
  const std::string bytes("a\0b\n\xff", 5);
  io::write_file_atomically(path("f.bin"), bytes);
  EXPECT_EQ(read_bytes(path("f.bin")), bytes);
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"f.bin"});
  io::write_file_atomically(path("empty.bin"), "");
  EXPECT_EQ(fs::file_size(path("empty.bin")), 0u);
}

TEST_F(AtomicFile, ReplacesTheWholeFileAndLeavesNoTemporaryFiles) {
  io::write_file_atomically(path("f.bin"), std::string(100000, 'o'));
  io::write_file_atomically(path("f.bin"), "new");  // shorter: no tail of the old file may remain
  EXPECT_EQ(read_bytes(path("f.bin")), "new");
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"f.bin"});
}

TEST_F(AtomicFile, KeepsThePermissionsOfTheFileItReplaces) {
  io::write_file_atomically(path("private.bin"), "old");
  fs::permissions(path("private.bin"), fs::perms::owner_read | fs::perms::owner_write);
  io::write_file_atomically(path("private.bin"), "new");
  EXPECT_EQ(fs::status(path("private.bin")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(AtomicFile, MissingDirectoryThrowsIOErrorAndLeavesNothing) {
  const std::string target = path("no-such-dir/f.bin");
  expect_error<IOError>([&] { io::write_file_atomically(target, "data"); },
                        {target, "No such file or directory"});
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(AtomicFile, FailedRenameRemovesTheTemporaryFile) {
  // Renaming a file over a directory fails after the temporary file has been written and synced.
  fs::create_directory(path("a-directory"));
  expect_error<IOError>([&] { io::write_file_atomically(path("a-directory"), "data"); },
                        {path("a-directory"), "rename", "Is a directory"});
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"a-directory"});
  EXPECT_TRUE(fs::is_empty(path("a-directory")));
}

TEST_F(AtomicFile, RejectsADirectoryPath) {
  expect_error<IOError>([&] { io::write_file_atomically(dir_.string() + "/", "data"); },
                        {dir_.string() + "/", "expected the path of a file"});
}

TEST_F(AtomicFile, ConcurrentWritersEachLeaveOneCompleteVersion) {
  constexpr int kThreads = 4;
  constexpr int kWrites = 25;
  std::vector<std::string> versions;
  for (int t = 0; t < kThreads; ++t)
    versions.push_back(std::string(50000 + 1000 * t, static_cast<char>('a' + t)));
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i)
        io::write_file_atomically(path("shared.bin"), versions[static_cast<std::size_t>(t)]);
    });
  for (std::thread& w : writers) w.join();
  EXPECT_NE(std::find(versions.begin(), versions.end(), read_bytes(path("shared.bin"))),
            versions.end());
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"shared.bin"});
}

// A writer killed with SIGKILL at an arbitrary moment must leave the old or the new file, whole.
TEST_F(AtomicFile, SigkillAtAnyMomentLeavesTheOldOrTheNewFileWhole) {
  const std::string target = path("checkpoint.bin");
  const std::string old_bytes(1 << 20, 'o');
  const std::string new_bytes(3 << 20, 'n');
  io::write_file_atomically(target, old_bytes);
  for (int round = 0; round < 8; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0) << std::strerror(errno);
    if (child == 0) {
      try {
        for (;;) {  // alternate forever, until killed
          io::write_file_atomically(target, new_bytes);
          io::write_file_atomically(target, old_bytes);
        }
      } catch (...) {
      }
      ::_exit(1);  // never return into the test runner from the child
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500 + 2500 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    const std::string now = read_bytes(target);
    EXPECT_TRUE(now == old_bytes || now == new_bytes)
        << "round " << round << ": found a partial file of " << now.size() << " bytes";
  }
}

// ---------------------------------------------------------------------------------------------
// save_safetensors / load_safetensors round trips

TEST_F(SafetensorsRoundTrip, EveryDtypeRankZeroSizeZeroTransposedViewAndMetadata) {
  Generator gen(11);
  const Tensor base = Tensor::arange(0, 12, 1, DType::f32).reshape({3, 4});
  const Tensor transposed = base.t();
  ASSERT_FALSE(transposed.is_contiguous());
  const Tensor specials =
      Tensor::from<double>({0.0, -0.0, INFINITY, -INFINITY, NAN, 5e-324, 1e308});
  const std::vector<NamedTensor> saved = {
      {"layer.weight", Tensor::normal({3, 4}, gen)},
      {"layer.bias", Tensor::normal({2, 3, 2}, gen, 0, 1, DType::f64)},
      {"labels", Tensor::arange(-5, 5, 1, DType::i32).reshape({2, 5})},
      {"scalar", Tensor::scalar(3.25, DType::f64)},
      {"empty", Tensor::zeros({0, 3})},
      {"transposed", transposed},
      {"specials", specials},
      {"rank8", Tensor::arange(0, 16, 1, DType::i32).reshape({1, 2, 1, 2, 1, 2, 1, 2})},
      {"indices64", Tensor::from<std::int64_t>({-1, 0, (std::int64_t{1} << 53) + 1, INT64_MAX})},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"epoch", "12"}, {"note", "ünïcödé ✓ \"quoted\"\n"}, {"", "empty key"}};
  io::save_safetensors(path("model.safetensors"), saved, metadata);

  const io::SafetensorsFile loaded = io::load_safetensors(path("model.safetensors"));
  EXPECT_EQ(loaded.path, path("model.safetensors"));
  EXPECT_EQ(loaded.metadata, metadata);
  ASSERT_EQ(loaded.tensors.size(), saved.size());
  for (std::size_t i = 0; i < saved.size(); ++i) {
    SCOPED_TRACE(saved[i].name);
    EXPECT_EQ(loaded.tensors[i].name, saved[i].name);  // saved order is kept
    const Tensor& t = loaded.tensors[i].tensor;
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_FALSE(t.shares_storage(saved[i].tensor));
    EXPECT_TRUE(same_bits(t, saved[i].tensor));
  }
  EXPECT_EQ(loaded.get("scalar").rank(), 0);
  EXPECT_EQ(loaded.get("scalar").item<double>(), 3.25);
  EXPECT_EQ(loaded.get("empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(values(loaded.get("transposed")), values(transposed));
  EXPECT_TRUE(std::signbit(loaded.get("specials").at({1})));
  EXPECT_TRUE(std::isnan(loaded.get("specials").at({4})));
  EXPECT_TRUE(loaded.contains("labels"));
  EXPECT_FALSE(loaded.contains("missing"));
}

TEST_F(SafetensorsRoundTrip, NoTensorsAndNoMetadata) {
  io::save_safetensors(path("empty.safetensors"), {});
  const io::SafetensorsFile loaded = io::load_safetensors(path("empty.safetensors"));
  EXPECT_TRUE(loaded.tensors.empty());
  EXPECT_TRUE(loaded.metadata.empty());
  EXPECT_EQ(read_bytes(path("empty.safetensors")), le64(8) + "{}      ");
}

TEST_F(SafetensorsRoundTrip, SavingReplacesAnExistingFileAndLeavesNoTemporaryFiles) {
  io::save_safetensors(path("m.safetensors"), {{"w", Tensor::ones({1000})}});
  io::save_safetensors(path("m.safetensors"), {{"v", Tensor::full({2}, 7)}});
  const io::SafetensorsFile loaded = io::load_safetensors(path("m.safetensors"));
  ASSERT_EQ(loaded.tensors.size(), 1u);
  EXPECT_EQ(values(loaded.get("v")), (std::vector<double>{7, 7}));
  EXPECT_EQ(files_in_dir(), std::vector<std::string>{"m.safetensors"});
}

TEST_F(SafetensorsRoundTrip, GetNamesTheFileAndListsTheTensorsItHas) {
  io::save_safetensors(path("m.safetensors"), {{"w", Tensor::ones({2})}, {"b", Tensor::ones({1})}});
  const io::SafetensorsFile loaded = io::load_safetensors(path("m.safetensors"));
  expect_error<ValueError>([&] { (void)loaded.get("weight"); },
                           {path("m.safetensors"), "no tensor named 'weight'", "'w', 'b'"});
}

TEST_F(SafetensorsRoundTrip, ReadsHeadersWrittenDifferentlyByOtherWriters) {
  // Key order, whitespace, an unpadded header and unknown fields are all the writer's choice.
  const std::vector<float> a = {1, 2, 3};
  const std::vector<std::int32_t> b = {-4};
  const std::string header =
      "{ \"b\" : {\"data_offsets\": [12, 16], \"shape\": [1], \"dtype\": \"I32\", \"extra\": "
      "null},\n"
      "  \"a\" : {\"shape\": [3], \"dtype\": \"F32\", \"data_offsets\": [0, 12]},\n"
      "  \"__metadata__\": {\"k\": \"v\"} }";
  write_bytes(path("other.safetensors"),
              safetensors_bytes(header, raw_bytes(a) + raw_bytes(b), /*pad=*/false));
  const io::SafetensorsFile loaded = io::load_safetensors(path("other.safetensors"));
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_EQ(loaded.tensors[0].name, "a");  // data order
  EXPECT_EQ(values(loaded.get("a")), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(loaded.get("b").dtype(), DType::i32);
  EXPECT_EQ(values(loaded.get("b")), (std::vector<double>{-4}));
  EXPECT_EQ(loaded.metadata.at("k"), "v");
}

// ---------------------------------------------------------------------------------------------
// Byte layout

TEST_F(SafetensorsLayout, HeaderLengthJsonPaddingAndData) {
  const std::vector<float> w = {1.5f, -2.0f};
  io::save_safetensors(path("w.safetensors"), {{"w", Tensor::from<float>(w)}}, {{"k", "v"}});
  const std::string json =
      R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::size_t padded = (8 + json.size() + 7) / 8 * 8 - 8;
  const std::string bytes = read_bytes(path("w.safetensors"));
  ASSERT_EQ(bytes.size(), 8 + padded + 8);
  EXPECT_EQ(bytes.substr(0, 8), le64(padded));
  EXPECT_EQ(bytes.substr(8, padded), json + std::string(padded - json.size(), ' '));
  EXPECT_EQ(bytes.substr(8 + padded), raw_bytes(w));
}

TEST_F(SafetensorsLayout, DataStartsEightByteAlignedWhateverTheNameLength) {
  for (int length = 1; length <= 16; ++length) {
    const std::string name(static_cast<std::size_t>(length), 'x');
    io::save_safetensors(path("a.safetensors"), {{name, Tensor::from<double>({1.0, 2.0})}});
    const std::string bytes = read_bytes(path("a.safetensors"));
    std::uint64_t header_length = 0;
    std::memcpy(&header_length, bytes.data(), 8);
    EXPECT_EQ((8 + header_length) % 8, 0u) << "name length " << length;
    EXPECT_EQ(bytes.size(), 8 + header_length + 16);
    EXPECT_EQ(bytes.substr(8 + header_length), raw_bytes(std::vector<double>{1.0, 2.0}));
  }
}

TEST_F(SafetensorsLayout, TensorsAreWrittenRowMajorInTheGivenOrder) {
  const Tensor m = Tensor::from<std::int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  io::save_safetensors(
      path("m.safetensors"),
      {{"mt", m.t()}, {"every_other", m.slice(1, 0, 3, 2)}, {"row", m.select(0, 1)}});
  const std::string bytes = read_bytes(path("m.safetensors"));
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(bytes.substr(8 + header_length),
            raw_bytes(std::vector<std::int32_t>{1, 4, 2, 5, 3, 6, 1, 3, 4, 6, 4, 5, 6}));
  const std::string header = bytes.substr(8, header_length);
  EXPECT_NE(header.find(R"("mt":{"dtype":"I32","shape":[3,2],"data_offsets":[0,24]})"),
            std::string::npos)
      << header;
  EXPECT_NE(header.find(R"("every_other":{"dtype":"I32","shape":[2,2],"data_offsets":[24,40]})"),
            std::string::npos);
  EXPECT_NE(header.find(R"("row":{"dtype":"I32","shape":[3],"data_offsets":[40,52]})"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Another reader: Python with numpy, per the public specification

std::string shell_quote(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string reader_script() {
#ifdef STHENO_SOURCE_DIR
  return std::string(STHENO_SOURCE_DIR) + "/tests/read_safetensors.py";
#else
  // CMake compiles sources by absolute path, so this file's own location finds the script.
  return (fs::path(__FILE__).parent_path() / "read_safetensors.py").string();
#endif
}

// Runs `command` and returns what it printed on stdout; `status` gets its exit status.
std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int raw = ::pclose(pipe);
  status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return out;
}

std::string join_dims(const Shape& shape) {
  std::string s;
  for (int i = 0; i < shape.rank(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

std::string python_repr(double x) {
  // Values in this test are small binary fractions, which Python's repr prints like this.
  std::ostringstream os;
  os.precision(17);
  os << x;
  std::string s = os.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

TEST_F(SafetensorsInterop, PythonReadsWhatSthenoWrote) {
  if (!fs::exists("/usr/bin/python3") ||
      std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  const std::string script = reader_script();
  ASSERT_TRUE(fs::exists(script)) << script;

  const Tensor base = Tensor::arange(-6, 6, 1, DType::f64).reshape({3, 4});
  const std::vector<NamedTensor> tensors = {
      {"f32", Tensor::arange(0, 3, 0.25, DType::f32).reshape({3, 4})},
      {"f64.transposed", base.t()},
      {"i32 with space", Tensor::arange(-3, 5, 1, DType::i32)},
      {"scalar", Tensor::scalar(-2.5, DType::f64)},
      {"empty", Tensor::zeros({2, 0}, DType::i32)},
  };
  io::save_safetensors(path("m.safetensors"), tensors, {{"epoch", "3"}, {"framework", "stheno"}});

  int status = 0;
  const std::string printed = run_command(
      "/usr/bin/python3 " + shell_quote(script) + " " + shell_quote(path("m.safetensors")), status);
  ASSERT_EQ(status, 0) << printed;

  std::uint64_t header_length = 0;
  std::memcpy(&header_length, read_bytes(path("m.safetensors")).data(), 8);
  std::string expected = "header_length\t" + std::to_string(header_length) + "\n";
  expected += "metadata\tepoch\t3\nmetadata\tframework\tstheno\n";
  for (const NamedTensor& t : tensors) {
    const std::vector<double> v = values(t.tensor);
    double sum = 0, weighted = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      sum += v[i];
      weighted += static_cast<double>(i) * v[i];
    }
    const char* dtype = t.tensor.dtype() == DType::f32   ? "F32"
                        : t.tensor.dtype() == DType::f64 ? "F64"
                                                         : "I32";
    expected += "tensor\t" + t.name + "\t" + dtype + "\t" + join_dims(t.tensor.shape()) + "\t" +
                python_repr(sum) + "\t" + python_repr(weighted) + "\n";
  }
  EXPECT_EQ(printed, expected);
}

// ---------------------------------------------------------------------------------------------
// Malformed and unsupported files

TEST_F(SafetensorsBadFile, MissingFile) {
  expect_error<IOError>([&] { io::load_safetensors(path("nope.safetensors")); },
                        {path("nope.safetensors"), "No such file or directory"});
}

TEST_F(SafetensorsBadFile, ShorterThanTheHeaderLength) {
  write_bytes(path("short.safetensors"), std::string("\x10\0\0\0\0", 5));
  expect_error<IOError>(
      [&] { io::load_safetensors(path("short.safetensors")); },
      {path("short.safetensors"), "at byte 0", "the file is 5 bytes", "8-byte header length"});
}

TEST_F(SafetensorsBadFile, HeaderLengthPastTheEnd) {
  write_bytes(path("f.safetensors"), le64(1000) + std::string(32, ' '));
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {path("f.safetensors"), "at byte 0", "header length 1000 runs past the end",
                         "the file is 40 bytes", "at most 32 bytes"});
}

TEST_F(SafetensorsBadFile, AbsurdHeaderLength) {
  write_bytes(path("f.safetensors"), le64(std::uint64_t{1} << 40) + "{}      ");
  expect_error<IOError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "at byte 0", "header length 1099511627776", "16777216-byte limit"});
}

TEST_F(SafetensorsBadFile, TruncatedData) {
  io::save_safetensors(path("f.safetensors"), {{"a", Tensor::ones({4})}, {"b", Tensor::ones({4})}});
  std::string bytes = read_bytes(path("f.safetensors"));
  bytes.resize(bytes.size() - 4);
  write_bytes(path("f.safetensors"), bytes);
  expect_error<IOError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "tensor 'b'", "[16, 32] run past the end of the data section",
       "which holds 28 bytes from byte " + std::to_string(bytes.size() - 28)});
}

TEST_F(SafetensorsBadFile, CorruptJson) {
  const std::string header = R"({"w": {"dtype": F32, "shape": [1], "data_offsets": [0, 4]}})";
  write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
  expect_error<IOError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "at byte " + std::to_string(header_byte(header, "F32")),
       "JSON header does not parse", "invalid literal"});
}

TEST_F(SafetensorsBadFile, HeaderThatIsNotAJsonObject) {
  write_bytes(path("f.safetensors"), safetensors_bytes("[1, 2]", ""));
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {path("f.safetensors"), "at byte 8",
                         "expected the JSON header to start with '{', found '['"});
}

TEST_F(SafetensorsBadFile, InvalidUtf8InTheHeader) {
  write_bytes(path("f.safetensors"), safetensors_bytes("{\"w\xff\": 1}", ""));
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {path("f.safetensors"), "at byte 11", "does not parse", "UTF-8"});
}

TEST_F(SafetensorsBadFile, UnsupportedDtype) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                             R"( "w": {"dtype": "BF16", "shape": [2], "data_offsets": [4, 8]}})";
  write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(8, '\0')));
  expect_error<DTypeError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "at byte " + std::to_string(header_byte(header, "\"w\"")),
       "tensor 'w'", "'BF16' is not supported", "supported: F32, F64, I32, I64"});
}

TEST_F(SafetensorsBadFile, OffsetsThatDoNotMatchTheShape) {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})";
  write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(20, '\0')));
  expect_error<IOError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "at byte " + std::to_string(header_byte(header, "\"w\"")),
       "tensor 'w'", "[0, 20] span 20 bytes", "F32 with shape [2, 3] needs 24 bytes"});
}

TEST_F(SafetensorsBadFile, OverlappingOffsets) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  const std::string bytes = safetensors_bytes(header, std::string(12, '\0'));
  write_bytes(path("f.safetensors"), bytes);
  const std::size_t data_start = bytes.size() - 12;
  expect_error<IOError>(
      [&] { io::load_safetensors(path("f.safetensors")); },
      {path("f.safetensors"), "at byte " + std::to_string(data_start + 4),
       "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])"});
}

TEST_F(SafetensorsBadFile, GapBetweenTensors) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})";
  const std::string bytes = safetensors_bytes(header, std::string(20, '\0'));
  write_bytes(path("f.safetensors"), bytes);
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {path("f.safetensors"), "at byte " + std::to_string(bytes.size() - 12),
                         "data bytes [8, 12] belong to no tensor", "tensor 'b'"});
}

TEST_F(SafetensorsBadFile, TrailingBytes) {
  io::save_safetensors(path("f.safetensors"), {{"w", Tensor::ones({2})}});
  const std::string saved = read_bytes(path("f.safetensors"));
  write_bytes(path("f.safetensors"), saved + "extra");
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {path("f.safetensors"), "at byte " + std::to_string(saved.size()),
                         "5 trailing bytes after the data of the last tensor, 'w' (expected the "
                         "file to end at byte " +
                             std::to_string(saved.size())});
}

TEST_F(SafetensorsBadFile, MalformedEntries) {
  struct Case {
    std::string entry;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {R"("w": [1])", "the entry is a JSON array (expected an object"},
      {R"("w": {"shape": [1], "data_offsets": [0, 4]})", "missing \"dtype\""},
      {R"("w": {"dtype": "F32", "data_offsets": [0, 4]})", "missing \"shape\""},
      {R"("w": {"dtype": "F32", "shape": [1]})", "missing \"data_offsets\""},
      {R"("w": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]})", "\"dtype\" is a JSON number"},
      {R"("w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]})",
       "\"shape\" is [-1] (expected an array of non-negative integers)"},
      {R"("w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]})", "\"shape\" is [1.5]"},
      {R"("w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]})",
       "\"shape\" is a JSON string"},
      {R"("w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]})",
       "has more elements than any file can hold"},
      {R"("w": {"dtype": "F32", "shape": [1], "data_offsets": [0]})", "\"data_offsets\" is [0]"},
      {R"("w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]})",
       "[4, 0] end before they begin"},
      {R"("w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]})",
       "names 'w' twice"},
      {R"("__metadata__": {"epoch": 3})",
       "\"__metadata__\" value of 'epoch' is a JSON number (expected a string)"},
      {R"("__metadata__": [])", "\"__metadata__\" is a JSON array"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    const std::string header = "{" + c.entry + "}";
    write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
    const std::string key = c.entry.substr(0, c.entry.find(':'));
    const std::string last_key_at = std::to_string(8 + header.rfind(key));
    expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                          {path("f.safetensors"), "at byte " + last_key_at, c.detail});
  }
}

TEST_F(SafetensorsBadFile, RankAboveTheMaximum) {
  const std::string header =
      R"({"w": {"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 4]}})";
  write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
  expect_error<ShapeError>([&] { io::load_safetensors(path("f.safetensors")); },
                           {path("f.safetensors"), "at byte 9", "tensor 'w'", "rank 9 exceeds"});
}

// ---------------------------------------------------------------------------------------------
// Arguments save_safetensors refuses

TEST_F(SafetensorsSave, RejectsBadNamesAndWritesNothing) {
  const Tensor t = Tensor::ones({2});
  const std::string target = path("m.safetensors");
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"a", t}, {"b", t}, {"a", t}});
      },
      {target, "tensor 2 repeats the name 'a'"});
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"", t}});
      },
      {target, "tensor 0 has an empty name"});
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"__metadata__", t}});
      },
      {target, "reserves for metadata"});
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"a", t}, {"u", Tensor()}});
      },
      {target, "tensor 1 'u' is undefined"});
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"bad\xff", t}});
      },
      {target, "not valid UTF-8"});
  expect_error<ValueError>(
      [&] {
        io::save_safetensors(target, {{"a", t}}, {{"k", "\xc3"}});
      },
      {target, "metadata value of 'k' is not valid UTF-8"});
  EXPECT_TRUE(files_in_dir().empty());
}

TEST_F(SafetensorsSave, UnwritableDirectoryIsAnIOError) {
  const std::string target = path("missing/m.safetensors");
  expect_error<IOError>(
      [&] {
        io::save_safetensors(target, {{"w", Tensor::ones({2})}});
      },
      {target, "No such file or directory"});
  EXPECT_TRUE(files_in_dir().empty());
}

// ---------------------------------------------------------------------------------------------
// load_into

TEST_F(SafetensorsLoadInto, CopiesIntoTheTargetsOwnStorage) {
  Generator gen(3);
  const Tensor w = Tensor::normal({3, 2}, gen);
  const Tensor labels = Tensor::from<std::int32_t>({7, 8, 9});
  io::save_safetensors(path("m.safetensors"), {{"w", w}, {"labels", labels}});

  const Tensor w_target = Tensor::zeros({3, 2});
  const Tensor alias = w_target;  // e.g. a graph parameter sharing the tensor
  const Tensor big = Tensor::zeros({6}, DType::i32);
  const Tensor every_other = big.slice(0, 0, 6, 2);  // a non-contiguous target
  io::load_into(path("m.safetensors"), {{"labels", every_other}, {"w", w_target}});

  EXPECT_TRUE(alias.shares_storage(w_target));
  EXPECT_EQ(values(alias), values(w));
  EXPECT_EQ(values(big), (std::vector<double>{7, 0, 8, 0, 9, 0}));
}

TEST_F(SafetensorsLoadInto, ListsEveryDifferenceAndModifiesNothing) {
  io::save_safetensors(path("m.safetensors"), {{"a", Tensor::ones({2, 3})},
                                               {"b", Tensor::ones({4}, DType::f64)},
                                               {"c", Tensor::ones({2}, DType::i32)},
                                               {"d", Tensor::ones({1})}});
  const std::vector<NamedTensor> targets = {{"a", Tensor::zeros({3, 2})},
                                            {"b", Tensor::zeros({4})},
                                            {"d", Tensor::zeros({1})},
                                            {"e", Tensor::zeros({5})}};
  expect_error<ValueError>(
      [&] { io::load_into(path("m.safetensors"), targets); },
      {path("m.safetensors"), "4 differences", "nothing was loaded",
       "'a': shape mismatch: (2, 3) in the file, (3, 2) in the target",
       "'b': dtype mismatch: float64 in the file, float32 in the target",
       "'e': missing in the file (the target is float32 (5,))",
       "'c': unexpected in the file: no target has this name (the file has int32 (2,))"});
  for (const NamedTensor& t : targets)
    EXPECT_EQ(values(t.tensor),
              std::vector<double>(static_cast<std::size_t>(t.tensor.numel()), 0.0))
        << t.name;
}

TEST_F(SafetensorsLoadInto, OnlyShapeOrOnlyDtypeDifferencesHaveTheirOwnErrorType) {
  io::save_safetensors(path("m.safetensors"),
                       {{"a", Tensor::ones({2, 3})}, {"b", Tensor::ones({2})}});
  expect_error<ShapeError>(
      [&] {
        io::load_into(path("m.safetensors"),
                      {{"a", Tensor::zeros({6})}, {"b", Tensor::zeros({3})}});
      },
      {path("m.safetensors"), "2 differences",
       "'a': shape mismatch: (2, 3) in the file, (6,) in the target",
       "'b': shape mismatch: (2,) in the file, (3,) in the target"});
  expect_error<DTypeError>(
      [&] {
        io::load_into(path("m.safetensors"),
                      {{"a", Tensor::zeros({2, 3}, DType::f64)}, {"b", Tensor::zeros({2})}});
      },
      {path("m.safetensors"), "1 difference)",
       "'a': dtype mismatch: float32 in the file, float64 in the target"});
}

TEST_F(SafetensorsLoadInto, RejectsDuplicateOrUndefinedTargets) {
  io::save_safetensors(path("m.safetensors"), {{"a", Tensor::ones({2})}});
  expect_error<ValueError>(
      [&] {
        io::load_into(path("m.safetensors"),
                      {{"a", Tensor::zeros({2})}, {"a", Tensor::zeros({2})}});
      },
      {path("m.safetensors"), "target 1 'a' repeats a name"});
  expect_error<ValueError>(
      [&] {
        io::load_into(path("m.safetensors"), {{"a", Tensor()}});
      },
      {path("m.safetensors"), "target 0 'a' is undefined"});
}

TEST_F(SafetensorsLoadInto, MalformedFileNamesTheOperation) {
  write_bytes(path("bad.safetensors"), "abc");
  expect_error<IOError>([&] { io::load_into(path("bad.safetensors"), {}); },
                        {"load_into", path("bad.safetensors"), "at byte 0"});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Files made to break the parser: each is an IOError naming the file and a byte, never a crash,
// a foreign exception or a silent success.

namespace {

std::string entry(const std::string& name, const std::string& shape, const std::string& offsets) {
  return "\"" + name + "\": {\"dtype\": \"F32\", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}";
}

}  // namespace

TEST_F(SafetensorsHostileFile, DeepNestingIsRefusedBeforeAnythingWalksIt) {
  // About 175 KB of brackets once overflowed the stack while the message was being built.
  const std::string deep = std::string(87'000, '[') + std::string(87'000, ']');
  for (const std::string& header : {"{" + entry("w", deep, "[0, 4]") + "}", "{" + entry("w", "[1]", deep) + "}"}) {
    write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
    expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                          {path("f.safetensors"), "at byte", "nests deeper than 8 levels"});
  }
}

TEST_F(SafetensorsHostileFile, NumberBeyondADoubleIsAMalformedFile) {
  for (const std::string& header : {"{" + entry("w", "[1e400]", "[0, 4]") + "}", "{" + entry("w", "[1]", "[0, -1e400]") + "}"}) {
    write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
    expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                          {path("f.safetensors"), "at byte", "does not parse", "1e400"});
  }
}

TEST_F(SafetensorsHostileFile, NulByteInTheHeaderIsRefusedWhereverItIs) {
  const std::string w = entry("w", "[1]", "[0, 4]");
  const std::vector<std::string> headers = {
      "{" + w + "}" + std::string(1, '\0') + "garbage",                                  // garbage accepted
      "{" + w + std::string(1, '\0') + ", " + entry("z", "[0]", "[4, 4]") + "}",         // a tensor dropped
      "{" + w + "}" + std::string(1, '\0') + R"({"\q": 1})",                             // the key scan threw
      "{\"w" + std::string(1, '\0') + "\": {}}",                                         // inside a string
  };
  for (const std::string& header : headers) {
    const std::size_t nul = header.find('\0');
    write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
    expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                          {path("f.safetensors"), "at byte " + std::to_string(8 + nul), "NUL byte"});
  }
}

TEST_F(SafetensorsHostileFile, RealCheckpointWithGarbageAfterANulIsRefused) {
  io::save_safetensors(path("f.safetensors"), {{"w", Tensor::ones({2})}}, {{"epoch", "1"}});
  const std::string saved = read_bytes(path("f.safetensors"));
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < 8; ++i) length |= std::uint64_t{static_cast<unsigned char>(saved[i])} << (8 * i);
  std::string header = saved.substr(8, length);
  header.erase(header.find_last_not_of(' ') + 1);
  header += std::string(1, '\0') + "{{{{not json";
  write_bytes(path("f.safetensors"), safetensors_bytes(header, saved.substr(8 + length)));
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); }, {path("f.safetensors"), "NUL byte"});
}

TEST_F(SafetensorsHostileFile, OffsetsNearTwoToTheSixtyFourDoNotWrapInTheMessage) {
  const std::string header = "{" + entry("w", "[1]", "[18446744073709551610, 18446744073709551614]") + "}";
  const std::string bytes = safetensors_bytes(header, std::string(4, '\0'));
  write_bytes(path("f.safetensors"), bytes);
  const std::uint64_t data_start = bytes.size() - 4;
  const std::string wrapped = std::to_string(data_start + 18446744073709551614ull);
  try {
    io::load_safetensors(path("f.safetensors"));
    ADD_FAILURE() << "loaded";
  } catch (const IOError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("[18446744073709551610, 18446744073709551614] run past the end of the data section"),
              std::string::npos) << message;
    EXPECT_EQ(message.find(" " + wrapped + ","), std::string::npos) << message;
  }
}

TEST_F(SafetensorsHostileFile, NamesThatCannotBeSavedCannotBeLoaded) {
  const std::string long_name(2000, 'n');
  for (const auto& [name, detail] : std::vector<std::pair<std::string, std::string>>{
           {"", "empty name"}, {long_name, "a name of 2000 bytes"}}) {
    write_bytes(path("f.safetensors"), safetensors_bytes("{" + entry(name, "[1]", "[0, 4]") + "}", std::string(4, '\0')));
    expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); }, {path("f.safetensors"), detail});
    expect_error<ValueError>([&] { io::save_safetensors(path("g.safetensors"), {{name, Tensor::ones({1})}}); }, {detail});
  }
  write_bytes(path("f.safetensors"), safetensors_bytes(R"({"__metadata__": {")" + long_name + R"(": "x"}})", ""));
  expect_error<IOError>([&] { io::load_safetensors(path("f.safetensors")); },
                        {"\"__metadata__\" key has a name of 2000 bytes"});
  expect_error<ValueError>([&] { io::save_safetensors(path("g.safetensors"), {}, {{long_name, "x"}}); },
                           {"a metadata key has a name of 2000 bytes"});
}

TEST_F(SafetensorsHostileFile, MessagesQuoteAtMostABoundedPartOfNamesAndValues) {
  const std::string huge(100'000, 'x');
  std::string many_halves = "[1.5";
  for (int i = 0; i < 5000; ++i) many_halves += ", 1.5";
  many_halves += "]";
  const std::vector<std::string> headers = {
      "{\"" + huge + "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 8]}}",
      R"({"w": {"dtype": ")" + huge + R"(", "shape": [1], "data_offsets": [0, 4]}})",
      R"({"w": {"dtype": "F32", "shape": [")" + huge + R"("], "data_offsets": [0, 4]}})",
      "{" + entry("w", "[" + std::string(50'000, '1') + "]", "[0, 4]") + "}",
      "{" + entry("w", "[1]", many_halves) + "}",
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [")" + huge + R"(", 4]}})",
      R"({"__metadata__": {")" + huge + R"(": 1}})",
  };
  for (const std::string& header : headers) {
    write_bytes(path("f.safetensors"), safetensors_bytes(header, std::string(4, '\0')));
    try {
      io::load_safetensors(path("f.safetensors"));
      ADD_FAILURE() << "loaded";
    } catch (const Error& e) {
      EXPECT_LT(std::string(e.what()).size(), 1000u) << std::string(e.what()).substr(0, 2000);
    }
  }
  std::vector<NamedTensor> many;
  for (int i = 0; i < 500; ++i) many.push_back({"t" + std::to_string(i) + huge.substr(0, 500), Tensor::ones({1})});
  io::save_safetensors(path("many.safetensors"), many);
  try {
    io::load_into(path("many.safetensors"), {{"other", Tensor::ones({1})}});
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_LT(std::string(e.what()).size(), 4000u);
    EXPECT_NE(std::string(e.what()).find("and 481 more"), std::string::npos) << e.what();
  }
}

TEST_F(SafetensorsHostileFile, ParsesFromMemoryExactlyAsFromTheFile) {
  io::save_safetensors(path("f.safetensors"), {{"a", Tensor::ones({2, 3})}, {"b", Tensor::zeros({4}, DType::i32)}},
                       {{"k", "v"}});
  const std::string bytes = read_bytes(path("f.safetensors"));
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const io::SafetensorsFile loaded = io::parse_safetensors(data, bytes.size(), "memory");
  ASSERT_EQ(loaded.tensors.size(), 2u);
  EXPECT_TRUE(same_bits(loaded.get("a"), Tensor::ones({2, 3})));
  EXPECT_TRUE(same_bits(loaded.get("b"), Tensor::zeros({4}, DType::i32)));
  EXPECT_EQ(loaded.metadata.at("k"), "v");
  expect_error<IOError>([&] { io::parse_safetensors(data, bytes.size() - 1, "memory"); },
                        {"parse_safetensors: malformed safetensors file 'memory'", "run past the end of the data section"});
}
