#pragma once
// A small command-line parser: --name value or --name=value, typed, with help text. Every
// mistake (unknown flag, missing or malformed value, value outside a set) is a UsageError that
// names the flag and says what was expected.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stheno/tensor/error.hpp"

namespace stheno::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

// A number as a user would type it: 0.001, 1e+06.
std::string format_number(double v);

class Flags {
 public:
  explicit Flags(std::string program) : program_(std::move(program)) {}

  void add_string(const std::string& name, std::string* target, std::string help, std::vector<std::string> choices = {});
  void add_int(const std::string& name, long long* target, std::string help, long long min, long long max);
  void add_double(const std::string& name, double* target, std::string help, double min, double max);
  void add_bool(const std::string& name, bool* target, std::string help);  // --name, or --name=true/false

  // Parses args (without the program name). Returns false if --help was given.
  bool parse(const std::vector<std::string>& args);
  std::string help() const;
  bool given(const std::string& name) const { return given_.count(name) > 0; }

 private:
  struct Flag {
    std::string help, default_text, kind;
    std::function<void(const std::string&)> set;
    bool is_bool = false;
  };
  std::string program_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> order_;
  std::map<std::string, bool> given_;
};

// The frame of a command: parse(help) reads the flags (false: --help was given, print `help`,
// exit 0; a UsageError: exit 2), then run() does the job (an exception: exit 1, as does output
// that could not be written to stdout). Every message starts with `command`; running out of
// memory adds `memory_hint`, which says what to make smaller.
int run_command(const char* command, const char* memory_hint, const std::function<bool(std::string& help)>& parse,
                const std::function<int()>& run);

}  // namespace stheno::cli
