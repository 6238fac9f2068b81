#include "stheno/exec/tape_machine.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>

#include "stheno/exec/buffer_plan.hpp"
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/backend.hpp"
#include "stheno/kernels/compare.hpp"
#include "stheno/kernels/threads.hpp"

namespace stheno {

namespace {
constexpr std::size_t kAlign = Storage::kAlignment;
constexpr int kForever = std::numeric_limits<int>::max();

std::size_t aligned_bytes(const Shape& shape, DType dtype) {
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * itemsize(dtype);
  return (bytes + kAlign - 1) / kAlign * kAlign;
}


// The program's device: the one asked for, else the parameters' (which must agree).
Device choose_device(Graph& graph, const std::vector<bool>& needed, std::optional<Device> wanted) {
  std::optional<Device> device = wanted;
  std::string first;
  for (int i = 0; i < graph.size(); ++i) {
    const Node node = graph.node(i);
    if (!needed[static_cast<std::size_t>(i)] || node.kind() != NodeKind::parameter) continue;
    const Device d = node.value().device();
    if (!device) {
      device = d;
      first = node.describe();
    } else if (d != *device) {
      throw DeviceError("TapeMachine: parameter " + node.describe() + " is on " + d.str() + " but " +
                        (first.empty() ? std::string("the program was asked to run") : "parameter " + first + " is") +
                        " on " + device->str() + "; move the model with to(device) first");
    }
  }
  return device.value_or(Device::cpu());
}

void require_supported(const Node& node, Device device) {
  const DType dtype = node.num_inputs() > 0 ? node.input(0).dtype() : node.dtype();
  if (device_supports(device, node.op()->kind(), dtype)) return;
  throw DeviceError("TapeMachine: " + device.str() + " (" + device_runtime(device).name() + ") cannot run " +
                    node.op()->describe() + " on " + std::string(dtype_name(dtype)) + ", needed for node %" +
                    std::to_string(node.id()) + " " + node.describe());
}
// Ops whose result is a function of their inputs' values alone (no generator, mode or
// communicator behind them), so that with constant inputs they can be computed once, when the
// program is compiled: the constant scale of a loss's gradient, for one.
bool foldable(OpKind kind) {
  switch (kind) {
    case OpKind::unary: case OpKind::binary: case OpKind::matmul: case OpKind::matmul_add: case OpKind::reduce:
    case OpKind::sum_to: case OpKind::laid_out: case OpKind::concat: case OpKind::softmax: case OpKind::log_softmax:
      return true;
    default:
      return false;
  }
}
}  // namespace

struct TapeMachine::Register {
  enum class Role { dead, input, parameter, constant, intermediate, view };
  Role role = Role::dead;
  Tensor tensor;
  int buffer = -1;        // arena buffer holding the data (intermediates and views of them)
  bool bound = false;     // inputs: a value was given
  bool output = false;
  bool inplace = false;   // computed over its input's buffer
  bool folded = false;    // a constant computed from constants when the program was compiled
  Tensor own;             // inputs: the machine's own buffer, which let() copies into
  Tensor spare;           // inputs on a device: the buffer stage() uploads the next value into
  bool staged = false;    // stage() has started an upload into spare for the next run
  std::vector<int> views;                      // view registers made from this one
  std::vector<std::pair<int, int>> uses;       // (instruction, input slot) that read this register
};

struct TapeMachine::Instruction {
  int node = -1;
  const Op* op = nullptr;
  std::vector<Tensor> inputs;
  Tensor out;
  PreparedKernel prepared;  // op->forward() prepared for these registers, after the first run
  std::int64_t calls = 0;
  std::chrono::nanoseconds time{0};
};

TapeMachine::~TapeMachine() = default;

TapeMachine::TapeMachine(Graph& graph, std::vector<Node> outputs, CompileOptions options)
    : graph_(graph), options_(options) {
  const int n = graph.size();
  registers_.resize(static_cast<std::size_t>(n));
  auto reg = [&](int id) -> Register& { return registers_[static_cast<std::size_t>(id)]; };
  auto inputs_of = [&](int id) {
    std::vector<int> in;
    const Node node = graph.node(id);
    for (int k = 0; k < node.num_inputs(); ++k) in.push_back(node.input(k).id());
    return in;
  };

  // 1. What the outputs need. Default outputs: nodes nothing else uses.
  if (outputs.empty()) {
    std::vector<bool> used(static_cast<std::size_t>(n), false);
    for (int i = 0; i < n; ++i)
      for (int in : inputs_of(i)) used[static_cast<std::size_t>(in)] = true;
    for (int i = 0; i < n; ++i)
      if (!used[static_cast<std::size_t>(i)]) outputs.push_back(graph.node(i));
  }
  std::vector<bool> needed(static_cast<std::size_t>(n), false);
  for (const Node& o : outputs) {
    if (!o.defined() || &o.graph() != &graph) throw ValueError("TapeMachine: an output node does not belong to this graph");
    needed[static_cast<std::size_t>(o.id())] = true;
    reg(o.id()).output = true;
  }
  for (int i = n - 1; i >= 0; --i)
    if (needed[static_cast<std::size_t>(i)])
      for (int in : inputs_of(i)) needed[static_cast<std::size_t>(in)] = true;
  device_ = choose_device(graph, needed, options.device);
  if (!device_.is_host()) {
    // The device's programs for the dtypes this program computes in are built now, when it is
    // compiled, not at its first run.
    bool uses[kDTypeCount] = {};
    for (int i = 0; i < n; ++i)
      if (needed[static_cast<std::size_t>(i)]) uses[static_cast<int>(graph.node(i).dtype())] = true;
    for (DType dtype : {DType::f32, DType::f64})
      if (uses[static_cast<int>(dtype)]) backend(device_).prepare(dtype);
  }

  // 2. Roles, and layouts on placeholder memory: views are decided on the real strides. An op
  //    whose inputs are all constants (or views of them) is computed now and becomes one.
  std::vector<int> base(static_cast<std::size_t>(n), -1);  // node whose buffer holds the data
  std::vector<bool> constant(static_cast<std::size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    if (!needed[static_cast<std::size_t>(i)]) continue;
    order_.push_back(i);
    const Node node = graph.node(i);
    Register& r = reg(i);
    switch (node.kind()) {
      case NodeKind::input:
        r.role = Register::Role::input;
        r.tensor = r.own = Tensor::zeros(node.shape(), node.dtype(), device_);
        continue;
      case NodeKind::parameter:
        r.role = Register::Role::parameter;
        r.tensor = node.value();
        continue;
      case NodeKind::constant:
        r.role = Register::Role::constant;
        r.tensor = node.value().to(device_);
        constant[static_cast<std::size_t>(i)] = true;
        continue;
      case NodeKind::op:
        break;
    }
    require_supported(node, device_);
    if (node.op()->is_view()) {
      try {
        r.tensor = node.op()->view(reg(node.input(0).id()).tensor);
        r.role = Register::Role::view;
        base[static_cast<std::size_t>(i)] = base[static_cast<std::size_t>(node.input(0).id())];
        reg(node.input(0).id()).views.push_back(i);
        constant[static_cast<std::size_t>(i)] = constant[static_cast<std::size_t>(node.input(0).id())];
        continue;
      } catch (const ShapeError&) {
        // Not expressible as a view of this layout: computed by copying, below.
      }
    }
    bool from_constants = node.num_inputs() > 0 && foldable(node.op()->kind());
    for (int k = 0; k < node.num_inputs() && from_constants; ++k) from_constants = constant[static_cast<std::size_t>(node.input(k).id())];
    if (from_constants) {
      std::vector<Tensor> operands;
      for (int k = 0; k < node.num_inputs(); ++k) operands.push_back(reg(node.input(k).id()).tensor);
      r.tensor = Tensor::empty(node.shape(), node.dtype(), device_);
      node.op()->forward(operands, r.tensor);
      r.role = Register::Role::constant;
      r.folded = true;
      constant[static_cast<std::size_t>(i)] = true;
      continue;
    }
    r.role = Register::Role::intermediate;
    r.tensor = Tensor::borrow(nullptr, node.shape(), node.dtype());  // placeholder until planned
    base[static_cast<std::size_t>(i)] = i;
  }

  // 3. Liveness per buffer: the last instruction reading the buffer through any node.
  std::vector<int> position(static_cast<std::size_t>(n), -1);
  for (std::size_t p = 0; p < order_.size(); ++p) position[static_cast<std::size_t>(order_[p])] = static_cast<int>(p);
  std::vector<int> last_use(static_cast<std::size_t>(n), -1);
  for (int i : order_) {
    const int b = base[static_cast<std::size_t>(i)];
    if (b >= 0) {
      auto& lu = last_use[static_cast<std::size_t>(b)];
      lu = std::max(lu, reg(i).output ? kForever : position[static_cast<std::size_t>(i)]);
    }
    for (int in : inputs_of(i)) {
      const int bin = base[static_cast<std::size_t>(in)];
      if (bin >= 0) {
        auto& lu = last_use[static_cast<std::size_t>(bin)];
        lu = std::max(lu, position[static_cast<std::size_t>(i)]);
      }
    }
  }

  // 4. Buffers. An elementwise result takes over its input's buffer when that input dies at this
  //    instruction (in place); such chains share one buffer, live from the first definition to
  //    the last use of the last member.
  std::vector<int> group(static_cast<std::size_t>(n), -1);
  BufferPlan plan;  // buffers indexed by group
  for (std::size_t p = 0; p < order_.size(); ++p) {
    const int i = order_[p];
    if (reg(i).role != Register::Role::intermediate) continue;
    const Node node = graph.node(i);
    const std::size_t bytes = aligned_bytes(node.shape(), node.dtype());
    int donor = -1;
    if (const int k = node.op()->inplace_input(); k >= 0 && k < node.num_inputs()) {
      const Node in = node.input(k);
      const int b = base[static_cast<std::size_t>(in.id())];
      bool sole_reader = b == in.id() && reg(in.id()).role == Register::Role::intermediate &&
                         last_use[static_cast<std::size_t>(b)] == static_cast<int>(p) && in.shape() == node.shape() &&
                         in.dtype() == node.dtype();
      for (int other = 0; other < node.num_inputs() && sole_reader; ++other)
        if (other != k && node.input(other).id() != in.id() && base[static_cast<std::size_t>(node.input(other).id())] == b)
          sole_reader = false;  // the buffer is also read through another view
      if (sole_reader) donor = b;
    }
    const int lu = last_use[static_cast<std::size_t>(i)];
    if (donor >= 0) {
      const int g = group[static_cast<std::size_t>(donor)];
      group[static_cast<std::size_t>(i)] = g;
      plan.extend(g, lu);
      reg(i).inplace = true;
      unplanned_bytes_ += bytes;
    } else {
      group[static_cast<std::size_t>(i)] = plan.add(static_cast<int>(p), lu, bytes);
    }
  }
  plan.place();
  arena_bytes_ = plan.arena_bytes();
  unplanned_bytes_ += plan.unshared_bytes();

  // 5. Real memory: one arena; every buffer gets its own Storage over its slice, so kernels see
  //    different buffers as unrelated.
  try {
    arena_ = Storage::allocate(std::max<std::size_t>(arena_bytes_, 1), device_);
  } catch (const OutOfMemoryError&) {
    throw OutOfMemoryError(arena_bytes_, "the compiled program's buffers (" + std::to_string(plan.size()) +
                                             " intermediate results) on " + device_.str());
  }
  for (int i : order_) {
    Register& r = reg(i);
    const Node node = graph.node(i);
    if (r.role == Register::Role::intermediate) {
      if (r.inplace) {
        // The donor's own Storage, so that kernels see true in-place work, not an overlap.
        r.tensor = reg(node.input(node.op()->inplace_input()).id()).tensor.view(node.shape());
      } else {
        const std::size_t at = plan.offset(group[static_cast<std::size_t>(i)]);
        r.tensor = Tensor::over(Storage::slice(arena_, at, aligned_bytes(node.shape(), node.dtype())), node.shape(),
                                node.dtype());
      }
      r.buffer = i;
    } else if (r.role == Register::Role::view) {
      r.tensor = node.op()->view(reg(node.input(0).id()).tensor);
    }
  }

  // 6. The instructions.
  for (int i : order_) {
    if (reg(i).role != Register::Role::intermediate) continue;
    const Node node = graph.node(i);
    Instruction ins;
    ins.node = i;
    ins.op = node.op();
    for (int k = 0; k < node.num_inputs(); ++k) {
      ins.inputs.push_back(reg(node.input(k).id()).tensor);
      reg(node.input(k).id()).uses.emplace_back(static_cast<int>(program_.size()), k);
    }
    ins.out = reg(i).tensor;
    program_.push_back(std::move(ins));
  }
}

TapeMachine::Register* TapeMachine::input_register(const char* what, const Node& input) {
  if (!input.defined() || &input.graph() != &graph_ || input.kind() != NodeKind::input)
    throw ValueError(std::string(what) + ": " + input.describe() + " is not an input of this machine's graph");
  Register& r = registers_[static_cast<std::size_t>(input.id())];
  return r.role == Register::Role::input ? &r : nullptr;  // null: not needed by the compiled outputs
}

TapeMachine::Register* TapeMachine::input_register(const char* what, const Node& input, const Tensor& value) {
  Register* r = input_register(what, input);
  if (!r) return nullptr;
  if (!value.defined()) throw ValueError(std::string(what) + ": the value for input " + input.describe() + " is undefined");
  if (value.shape() != input.shape() || value.dtype() != input.dtype())
    throw ShapeError(std::string(what) + ": input " + input.describe() + " cannot take a value of shape " +
                     value.shape().str() + " " + std::string(dtype_name(value.dtype())));
  return r;
}

void TapeMachine::copy_into_own_buffer(Register& r, int id, const Tensor& value) {
  if (!r.tensor.shares_storage(r.own)) {  // bound to a caller's tensor: back to our own buffer
    r.tensor = r.own;
    refresh(id);
  }
  if (value.numel() == r.tensor.numel()) r.tensor.copy_from(value);
  else r.tensor.slice(0, 0, value.numel()).copy_from(value);
  r.bound = true;
  r.staged = false;  // the latest value wins over an earlier stage()
}

// Points every instruction operand that reads register `id`, directly or through views, at the
// register's current tensor.
void TapeMachine::refresh(int id) {
  Register& r = registers_[static_cast<std::size_t>(id)];
  for (const auto& [instruction, slot] : r.uses) program_[static_cast<std::size_t>(instruction)].inputs[static_cast<std::size_t>(slot)] = r.tensor;
  for (int v : r.views) {
    registers_[static_cast<std::size_t>(v)].tensor = graph_.node(v).op()->view(r.tensor);
    refresh(v);
  }
}

void TapeMachine::let(const Node& input, const Tensor& value) {
  if (Register* r = input_register("let", input, value)) copy_into_own_buffer(*r, input.id(), value);
}

void TapeMachine::let(const CsrNode& input, const CsrMatrix& value) {
  const auto what = [&] { return "let: sparse input " + input.values.describe(); };  // on error only: no allocation
  if (!value.defined()) throw ValueError(what() + ": the matrix is undefined");
  if (value.rows() != input.rows() || value.cols() != input.cols || value.dtype() != input.values.dtype())
    throw ShapeError(what() + " is (" + std::to_string(input.rows()) + ", " + std::to_string(input.cols) + ") " +
                     std::string(dtype_name(input.values.dtype())) + ", the matrix " + value.str(0));
  if (value.index_dtype() != input.columns.dtype())
    throw DTypeError(what() + " has " + std::string(dtype_name(input.columns.dtype())) + " indices, the matrix " +
                     std::string(dtype_name(value.index_dtype())) + " ones; convert it with with_index_dtype()");
  const std::int64_t capacity = input.columns.shape().numel();
  if (value.nnz() > capacity)
    throw ValueError(what() + ": the matrix has " + std::to_string(value.nnz()) + " stored entries, the input room for " +
                     std::to_string(capacity) + "; make it with a larger capacity");
  let(input.row_offsets, value.row_offsets());
  // The entries fill the front of the columns and values buffers; the rest is never read.
  for (const auto& [node, part] : {std::pair{&input.columns, &value.columns()}, std::pair{&input.values, &value.values()}})
    if (Register* r = input_register("let", *node)) copy_into_own_buffer(*r, node->id(), *part);
}

void TapeMachine::bind(const Node& input, const Tensor& value) {
  Register* r = input_register("bind", input, value);
  if (!r) return;
  if (!value.is_contiguous()) throw ValueError("bind: the value for input " + input.describe() + " must be contiguous; use let() to copy it");
  if (value.device() != device_)
    throw DeviceError("bind: the value for input " + input.describe() + " is on " + value.device().str() + " but the program runs on " +
                      device_.str() + "; use let() to copy it there");
  r->tensor = value;
  r->bound = true;
  r->staged = false;  // the latest value wins over an earlier stage()
  refresh(input.id());
}

void TapeMachine::stage(const Node& input, const Tensor& value) {
  if (device_.is_host()) return let(input, value);
  Register* r = input_register("stage", input, value);
  if (!r) return;
  if (!value.device().is_host() || !value.is_contiguous())
    throw ValueError("stage: the value for input " + input.describe() + " must be a contiguous host tensor; use let()");
  if (!r->spare.defined()) r->spare = Tensor::empty(input.shape(), input.dtype(), device_);
  const std::size_t bytes = static_cast<std::size_t>(value.numel()) * itemsize(value.dtype());
  device_runtime(device_).upload_async(r->spare.storage()->handle(), r->spare.storage()->byte_offset(), value.raw_data(), bytes);
  r->staged = true;
  r->bound = true;
  staged_ = true;
}

void TapeMachine::check_instruction(const Instruction& ins) const {
  if (all_finite(ins.out)) return;
  const Node node = graph_.node(ins.node);
  std::string inputs;
  for (int k = 0; k < node.num_inputs(); ++k) inputs += (k ? ", " : "") + node.input(k).describe();
  const auto index = std::find_if(program_.begin(), program_.end(), [&](const Instruction& x) { return &x == &ins; }) - program_.begin();
  throw ValueError("NaN watch: instruction " + std::to_string(index) + " (" + ins.op->describe() + ") produced NaN or Inf in node %" +
                   std::to_string(ins.node) + " " + node.describe() + ", computed from " + inputs);
}

void TapeMachine::run() {
  const FlushSubnormals flush(options_.flush_subnormals && device_.is_host());
  if (runs_ == 0) {
    for (int i : order_) {
      const Register& r = registers_[static_cast<std::size_t>(i)];
      if (r.role == Register::Role::input && !r.bound)
        throw ValueError("run: input " + graph_.node(i).describe() + " has no value; bind it with let()");
    }
  }
  if (staged_) {
    // The staged uploads become this run's inputs; the kernels wait for them on the device.
    device_runtime(device_).order_after_uploads();
    for (int i : order_) {
      Register& r = registers_[static_cast<std::size_t>(i)];
      if (r.role != Register::Role::input || !r.staged) continue;
      std::swap(r.own, r.spare);
      r.tensor = r.own;
      r.staged = false;
      refresh(i);
    }
  }
  if (!hooks_.empty())
    for (Hook& h : hooks_[0]) h.action(registers_[static_cast<std::size_t>(h.node)].tensor);
  const auto execute = [](const Instruction& ins) {
    if (ins.prepared) ins.prepared(ins.inputs, ins.out);
    else ins.op->forward(ins.inputs, ins.out);
  };
  for (std::size_t k = 0; k < program_.size(); ++k) {
    Instruction& ins = program_[k];
    if (options_.profile) {
      const auto start = std::chrono::steady_clock::now();
      execute(ins);
      ins.time += std::chrono::steady_clock::now() - start;
      ++ins.calls;
    } else {
      execute(ins);
    }
    if (options_.watch_nan) check_instruction(ins);
    if (!hooks_.empty())
      for (Hook& h : hooks_[k + 1]) h.action(registers_[static_cast<std::size_t>(h.node)].tensor);
  }
  if (staged_) {
    // Long finished, as a rule (they ran beside the previous step): the callers' host memory is free again.
    device_runtime(device_).finish_uploads();
    staged_ = false;
  }
  // The first run's forward() calls have checked every operand; from here on the registers keep
  // their layouts (a bound input must be contiguous, of the input's shape), so each instruction's
  // checks and choices are made once.
  if (runs_ == 0)
    for (Instruction& ins : program_) ins.prepared = ins.op->prepare(ins.inputs, ins.out);
  ++runs_;
}

const Tensor& TapeMachine::value(const Node& node) const {
  if (!node.defined() || &node.graph() != &graph_) throw ValueError("value: the node does not belong to this machine's graph");
  const Register& r = registers_[static_cast<std::size_t>(node.id())];
  const bool readable = r.output || r.role == Register::Role::input || r.role == Register::Role::parameter ||
                        r.role == Register::Role::constant;
  if (!readable)
    throw ValueError("value: " + node.describe() + " is not an output of this program (its memory is reused); "
                     "list it in the outputs when compiling");
  if (runs_ == 0 && (r.role == Register::Role::intermediate || r.role == Register::Role::view))
    throw ValueError("value: " + node.describe() + " has not been computed yet; call run()");
  return r.tensor;
}

std::size_t TapeMachine::planned_bytes() const { return arena_bytes_; }
std::size_t TapeMachine::unplanned_bytes() const { return unplanned_bytes_; }
int TapeMachine::num_instructions() const { return static_cast<int>(program_.size()); }

int TapeMachine::instruction_of(const Node& node) const {
  if (!node.defined() || &node.graph() != &graph_ || static_cast<std::size_t>(node.id()) >= registers_.size())
    throw ValueError("instruction_of: the node does not belong to this machine's program");
  Node source = node;
  while (registers_[static_cast<std::size_t>(source.id())].role == Register::Role::view) source = source.input(0);
  for (std::size_t k = 0; k < program_.size(); ++k)
    if (program_[k].node == source.id()) return static_cast<int>(k);
  return -1;
}

void TapeMachine::after(const Node& output, std::string label, std::function<void(const Tensor&)> action) {
  if (!output.defined() || &output.graph() != &graph_) throw ValueError("after: the node does not belong to this machine's graph");
  using Role = Register::Role;
  const Register* r = static_cast<std::size_t>(output.id()) < registers_.size() ? &registers_[static_cast<std::size_t>(output.id())] : nullptr;
  if (!r || !(r->output || r->role == Role::input || r->role == Role::parameter || r->role == Role::constant))
    throw ValueError("after: " + output.describe() + " is not an output of the program, so its memory may be reused "
                     "before the action runs; compile it as an output");
  if (hooks_.empty()) hooks_.resize(program_.size() + 1);
  hooks_[static_cast<std::size_t>(instruction_of(output) + 1)].push_back({std::move(label), output.id(), std::move(action)});
}

std::string TapeMachine::listing() const {
  std::ostringstream os;
  auto ref = [&](int id) { return "%" + std::to_string(id) + " " + graph_.node(id).name(); };
  auto operands = [&](const Node& node) {
    std::string list;
    for (int k = 0; k < node.num_inputs(); ++k) list += (k ? ", " : "") + ref(node.input(k).id());
    return list;
  };
  auto type = [&](int id) {
    const Node node = graph_.node(id);
    return std::string(dtype_name(node.dtype())) + " " + node.shape().str();
  };
  char line[512];
  std::snprintf(line, sizeof line, "%-4s %-22s %-30s %-18s %-22s %s\n", "#", "instruction", "inputs", "output", "type", "memory");
  os << line;
  if (!hooks_.empty())
    for (const Hook& h : hooks_[0]) os << "     first: " << h.label << "\n";
  int index = 0;
  for (int i : order_) {
    const Register& r = registers_[static_cast<std::size_t>(i)];
    const Node node = graph_.node(i);
    std::string what, inputs = "-", memory;
    std::string idx = "";
    switch (r.role) {
      case Register::Role::input: what = "load input"; memory = "own " + std::to_string(aligned_bytes(node.shape(), node.dtype())) + " B"; break;
      case Register::Role::parameter: what = "load parameter"; memory = "parameter"; break;
      case Register::Role::constant:
        if (r.folded) {
          what = node.op()->describe();
          inputs = operands(node);
          memory = "constant, computed once when compiled";
          break;
        }
        what = "load constant";
        memory = node.value().device() == device_ ? "constant" : "constant, copied to " + device_.str() + " once";
        break;
      case Register::Role::view:
        what = node.op()->describe();
        inputs = ref(node.input(0).id());
        memory = "view of " + ref(node.input(0).id());
        break;
      case Register::Role::intermediate: {
        idx = std::to_string(index++);
        what = node.op()->describe();
        inputs = operands(node);
        const std::size_t off = r.tensor.storage()->byte_offset() +
                                static_cast<std::size_t>(r.tensor.offset()) * itemsize(r.tensor.dtype()) - arena_->byte_offset();
        memory = "arena [" + std::to_string(off) + ", " + std::to_string(off + aligned_bytes(node.shape(), node.dtype())) + ")";
        if (r.inplace) memory += " in-place";
        break;
      }
      case Register::Role::dead: continue;
    }
    if (r.output) memory += " output";
    std::snprintf(line, sizeof line, "%-4s %-22s %-30s %-18s %-22s %s\n", idx.c_str(), what.c_str(), inputs.c_str(),
                  ref(i).c_str(), type(i).c_str(), memory.c_str());
    os << line;
    if (r.role == Register::Role::intermediate && !hooks_.empty())
      for (const Hook& h : hooks_[static_cast<std::size_t>(index)]) os << "     then: " << h.label << "\n";
  }
  os << program_.size() << " instructions on " << device_.str() << "; arena " << arena_bytes_ << " bytes for intermediates that would need "
     << unplanned_bytes_ << " bytes unshared\n";
  if (runs_ > 0)
    os << std::count_if(program_.begin(), program_.end(), [](const Instruction& ins) { return bool(ins.prepared); })
       << " instructions prepared after the first run (their checks and choices made once)\n";
  return os.str();
}

std::string TapeMachine::profile_report() const {
  if (!options_.profile) return "profile: compile with CompileOptions{.profile = true}\n";
  std::chrono::nanoseconds total{0};
  for (const Instruction& ins : program_) total += ins.time;
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-4s %-28s %-20s %10s %12s %10s %7s\n", "#", "instruction", "node", "calls", "total ms",
                "mean us", "share");
  os << line;
  for (std::size_t i = 0; i < program_.size(); ++i) {
    const Instruction& ins = program_[i];
    const double ms = static_cast<double>(ins.time.count()) * 1e-6;
    std::snprintf(line, sizeof line, "%-4zu %-28s %-20s %10lld %12.3f %10.2f %6.1f%%\n", i, ins.op->describe().c_str(),
                  graph_.node(ins.node).name().c_str(), static_cast<long long>(ins.calls), ms,
                  ins.calls ? ms * 1e3 / static_cast<double>(ins.calls) : 0.0,
                  total.count() ? 100.0 * static_cast<double>(ins.time.count()) / static_cast<double>(total.count()) : 0.0);
    os << line;
  }
  return os.str();
}

}  // namespace stheno
