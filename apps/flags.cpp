#include "flags.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

#include "progress.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno::cli {

std::string format_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void Flags::add_string(const std::string& name, std::string* target, std::string help, std::vector<std::string> choices) {
  std::string kind = "TEXT";
  if (!choices.empty()) {
    kind.clear();
    for (const auto& c : choices) kind += (kind.empty() ? "" : "|") + c;
  }
  flags_[name] = {std::move(help), *target, kind, [name, target, choices](const std::string& v) {
                    if (!choices.empty() && std::find(choices.begin(), choices.end(), v) == choices.end()) {
                      std::string list;
                      for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
                      throw UsageError("--" + name + " " + v + ": unknown value (expected one of: " + list + ")");
                    }
                    *target = v;
                  }};
  order_.push_back(name);
}

void Flags::add_int(const std::string& name, long long* target, std::string help, long long min, long long max) {
  flags_[name] = {std::move(help), std::to_string(*target), "N", [name, target, min, max](const std::string& v) {
                    char* end = nullptr;
                    errno = 0;
                    const long long x = std::strtoll(v.c_str(), &end, 10);
                    if (v.empty() || *end != '\0' || errno == ERANGE)
                      throw UsageError("--" + name + " " + v + ": expected a whole number");
                    if (x < min || x > max)
                      throw UsageError("--" + name + " " + v + ": must be between " + std::to_string(min) + " and " +
                                       std::to_string(max));
                    *target = x;
                  }};
  order_.push_back(name);
}

void Flags::add_double(const std::string& name, double* target, std::string help, double min, double max) {
  flags_[name] = {std::move(help), format_number(*target), "X", [name, target, min, max](const std::string& v) {
                    char* end = nullptr;
                    const double x = std::strtod(v.c_str(), &end);
                    if (v.empty() || *end != '\0' || !std::isfinite(x))
                      throw UsageError("--" + name + " " + v + ": expected a number");
                    if (x < min || x > max)
                      throw UsageError("--" + name + " " + v + ": must be between " + format_number(min) + " and " +
                                       format_number(max));
                    *target = x;
                  }};
  order_.push_back(name);
}

void Flags::add_bool(const std::string& name, bool* target, std::string help) {
  Flag f{std::move(help), *target ? "true" : "false", "", [name, target](const std::string& v) {
           if (v == "true" || v == "1" || v.empty()) *target = true;
           else if (v == "false" || v == "0") *target = false;
           else throw UsageError("--" + name + "=" + v + ": expected true or false");
         }};
  f.is_bool = true;
  flags_[name] = std::move(f);
  order_.push_back(name);
}

bool Flags::parse(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") return false;
    if (arg.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + arg + "' (flags start with --; see " + program_ + " --help)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const auto it = flags_.find(name);
    if (it == flags_.end()) throw UsageError("unknown flag --" + name + " (see " + program_ + " --help)");
    if (!has_value && !it->second.is_bool) {
      if (i + 1 >= args.size()) throw UsageError("--" + name + " needs a value (" + it->second.kind + ")");
      value = args[++i];
    }
    it->second.set(value);
    given_[name] = true;
  }
  return true;
}

std::string Flags::help() const {
  std::ostringstream os;
  for (const auto& name : order_) {
    const Flag& f = flags_.at(name);
    std::string left = "  --" + name + (f.is_bool ? "" : " " + f.kind);
    if (left.size() < 30) left += std::string(30 - left.size(), ' ');
    else left += "\n" + std::string(30, ' ');
    os << left << f.help << (f.default_text.empty() ? "" : " [default: " + f.default_text + "]");
    if (f.is_bool && f.default_text == "true") os << " (--" << name << "=false turns it off)";
    os << "\n";
  }
  return os.str();
}

namespace {
// Output that stdio still buffers, or could not write, is lost without a word unless the
// stream is flushed and checked before the exit status is decided.
void check_stdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    throw stheno::IOError(std::string("could not write to standard output: ") + std::strerror(errno));
}
}  // namespace

int run_command(const char* command, const char* memory_hint, const std::function<bool(std::string& help)>& parse,
                const std::function<int()>& run) {
  std::string help;
  try {
    try {
      if (!parse(help)) {
        std::fputs(help.c_str(), stdout);
        check_stdout();
        return 0;
      }
    } catch (const UsageError& e) {
      std::fprintf(stderr, "%s: %s\n", command, e.what());
      return 2;
    }
    const int status = run();
    check_stdout();
    return status;
  } catch (const stheno::OutOfMemoryError& e) {
    Progress::clear_interrupted();
    std::fprintf(stderr, "%s: error: %s; %s\n", command, e.what(), memory_hint);
  } catch (const std::bad_alloc&) {
    Progress::clear_interrupted();
    std::fprintf(stderr, "%s: error: out of memory; %s\n", command, memory_hint);
  } catch (const std::exception& e) {
    Progress::clear_interrupted();
    std::fprintf(stderr, "%s: error: %s\n", command, e.what());
  }
  return 1;
}

}  // namespace stheno::cli
