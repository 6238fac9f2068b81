#pragma once
// The tape machine compiles a graph once into a linear program and runs it many times.
//
//   TapeMachine m(g, {cost, dw});     // topological order, dead nodes dropped, buffers planned
//   std::cout << m.listing();         // the program, register by register
//   m.let(x, x_value);                // inputs are copied into their own buffers
//   m.run();                          // after the first run: no heap allocation at all
//   m.value(dw);
//
// Every intermediate lives in one arena. Buffers are assigned by liveness, so intermediates whose
// lifetimes do not overlap share memory, and an elementwise op whose input dies at that op
// writes its result over the input (in place). Reshapes, transposes, slices and broadcasts are
// views of their input's buffer and cost nothing at run time.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stheno/graph/graph.hpp"

namespace stheno {

struct CsrNode;
class CsrMatrix;

struct CompileOptions {
  // Count calls and time of every instruction (profile_report()).
  bool profile = false;
  // After every instruction, check its result for NaN or Inf and stop with an error that names
  // the instruction and its node.
  bool watch_nan = false;
  // Where the program runs: its arena, inputs and constants live there. By default, the device
  // of the graph's parameters (the host when there are none). Every parameter must already be
  // there (move a model with Module::to); constants are copied there once, when compiling.
  std::optional<Device> device = std::nullopt;
  // Runs (and a TrainingStep's optimizer updates) flush subnormal numbers to zero on the host
  // (FlushSubnormals, kernels/threads.hpp); false keeps IEEE's gradual underflow.
  bool flush_subnormals = true;
};

class TapeMachine {
 public:
  // Compiles what `outputs` need (default: every node that no other node uses).
  explicit TapeMachine(Graph& graph, std::vector<Node> outputs = {}, CompileOptions options = {});
  ~TapeMachine();
  TapeMachine(const TapeMachine&) = delete;
  TapeMachine& operator=(const TapeMachine&) = delete;

  // Copies `value` into the input's buffer; shape and dtype must match the node's.
  void let(const Node& input, const Tensor& value);
  // Uses `value` (contiguous, same shape and dtype) as the input without copying it; the caller
  // keeps it unchanged until the runs that read it are done. Allocation-free.
  void bind(const Node& input, const Tensor& value);
  // Copies a sparse matrix into a sparse input (graph/ops.hpp csr_input): its row count, column
  // count and dtype must match, and it may hold at most the input's capacity of entries.
  // Allocation-free.
  void let(const CsrNode& input, const CsrMatrix& value);
  // For the next run(): on a device, starts uploading `value` (host, contiguous, the input's
  // shape and dtype) into a second buffer of the input and returns at once, so that the next
  // batch travels while this run's kernels work; the next run() switches to that buffer, its
  // kernels waiting for the upload on the device. `value` must stay unchanged until that run()
  // returns. On the host it is let().
  void stage(const Node& input, const Tensor& value);
  void run();

  // Calls `action` with the value of `output` in every run(), right after the instruction that
  // computes it (before the first instruction if none does), and shows `label` there in the
  // listing. `output` must be one the program was compiled to output, whose memory is not
  // reused after, or an input, parameter or constant. For work that should start as soon as a value is ready: a training step sends
  // each gradient bucket to the other ranks while backward goes on.
  void after(const Node& output, std::string label, std::function<void(const Tensor&)> action);
  // The position in the program of the instruction that computes `node`, or -1 if none does
  // (an input, a parameter, a constant). Views count as their source's.
  int instruction_of(const Node& node) const;

  // The value of an output, input, parameter or constant after the last run. It is a view of
  // the machine's memory: valid until the next run, copy it to keep it.
  const Tensor& value(const Node& node) const;

  // The compiled program, one instruction a line, with registers, shapes and buffers.
  std::string listing() const;
  // Calls and time per instruction since compilation (needs CompileOptions::profile).
  std::string profile_report() const;

  // Bytes of the planned arena that holds every intermediate.
  const CompileOptions& options() const { return options_; }
  std::size_t planned_bytes() const;
  // Bytes the intermediates would need if none shared memory.
  std::size_t unplanned_bytes() const;
  int num_instructions() const;
  // The device the program runs on.
  Device device() const { return device_; }

 private:
  struct Register;
  struct Instruction;
  void check_instruction(const Instruction& ins) const;
  // The register of an input node of this graph (null when the compiled outputs do not need it);
  // with a value, after checking its shape and dtype against the node's.
  Register* input_register(const char* what, const Node& input);
  Register* input_register(const char* what, const Node& input, const Tensor& value);
  // Copies `value` into the front of the input's own buffer (all of it, for a value of the
  // input's shape), taking the input back from a bound caller's tensor.
  void copy_into_own_buffer(Register& r, int id, const Tensor& value);
  void refresh(int id);

  Graph& graph_;
  CompileOptions options_;
  Device device_;
  std::vector<Instruction> program_;
  std::vector<Register> registers_;  // indexed by node id; unused for dead nodes
  std::vector<int> order_;           // node ids in program order (including loads and views)
  std::shared_ptr<Storage> arena_;
  std::size_t arena_bytes_ = 0, unplanned_bytes_ = 0;
  std::int64_t runs_ = 0;
  bool staged_ = false;  // some input has a staged upload for the next run
  struct Hook {
    std::string label;
    int node;
    std::function<void(const Tensor&)> action;
  };
  std::vector<std::vector<Hook>> hooks_;  // [0]: before the first instruction; [k + 1]: after instruction k
};

}  // namespace stheno
