// The stheno command line: `stheno train` is the main job.
#include <cstdio>
#include <string>
#include <vector>

namespace stheno::cli {
int run_train(const std::vector<std::string>& args);
int run_export(const std::vector<std::string>& args);
int run_onnx(const std::vector<std::string>& args);
}

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const std::string usage =
      "usage: stheno <command> [flags]\n\ncommands:\n  train    train a classifier on an MNIST-format dataset "
      "(Fashion-MNIST by default)\n  export   write a trained model as ONNX\n  run      evaluate an ONNX classifier on an MNIST-format "
      "test set\n\nRun `stheno <command> --help` for its flags.\n";
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(usage.c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "train") return stheno::cli::run_train({args.begin() + 1, args.end()});
  if (args[0] == "export") return stheno::cli::run_export({args.begin() + 1, args.end()});
  if (args[0] == "run") return stheno::cli::run_onnx({args.begin() + 1, args.end()});
  std::fprintf(stderr, "stheno: unknown command '%s'\n\n%s", args[0].c_str(), usage.c_str());
  return 2;
}
