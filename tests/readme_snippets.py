#!/usr/bin/env python3
"""Turns every ```cpp block of README.md into one C++ translation unit, so that a build checks
that the README's code compiles against the library as it stands and a test runs it.

usage: readme_snippets.py README.md OUTPUT.cpp

A block is read as the body of a function, after the prelude every snippet may assume
(`#include <stheno/stheno.hpp>` and `using namespace stheno;`); its own #include lines move to
the top of the file. A block with `int main()` is a whole program: it goes into a namespace of
its own and its main() is called like the other snippets, so that everything builds as one
translation unit (one compile on a small machine). A block that loads Fashion-MNIST runs only
when the dataset is installed; without it the program exits 77, which CTest reports as skipped.
"""
import re
import sys
from pathlib import Path


def blocks(text):
    """(line number, code) of every ```cpp block."""
    for match in re.finditer(r"^```cpp\n(.*?)^```$", text, re.M | re.S):
        yield text.count("\n", 0, match.start()) + 2, match.group(1)


def main():
    readme, output = Path(sys.argv[1]), Path(sys.argv[2])
    includes = {"#include <cstdio>", "#include <filesystem>", "#include <stheno/stheno.hpp>"}
    bodies, calls = [], []
    for n, (line, code) in enumerate(blocks(readme.read_text())):
        own = [l for l in code.splitlines() if l.startswith("#include")]
        includes.update(own)
        code = "\n".join(l for l in code.splitlines() if not l.startswith("#include"))
        needs_data = "load_mnist" in code
        if re.search(r"^int main\(\)", code, re.M):
            code = re.sub(r"^int main\(\)", "int main_()", code, flags=re.M)
            bodies.append(f"namespace snippet_{n} {{\n#line {line} \"{readme}\"\n{code}\n}}  // namespace snippet_{n}\n")
            call = f"snippet_{n}::main_()"
        else:
            bodies.append(f"int snippet_{n}() {{\n#line {line} \"{readme}\"\n{code}\n  return 0;\n}}\n")
            call = f"snippet_{n}()"
        calls.append((line, call, needs_data))
    lines = sorted(includes) + ["", "using namespace stheno;", ""] + bodies
    lines += ["int main() {", "  const bool have_data = std::filesystem::exists(data::kDefaultMnistDirectory);",
              "  bool skipped = false;"]
    for line, call, needs_data in calls:
        lines.append(f"  std::puts(\"README.md:{line}\");")
        if needs_data:
            lines.append(f"  if (!have_data) {{ std::puts(\"  skipped: no Fashion-MNIST\"); skipped = true; }}")
            lines.append(f"  else if ({call} != 0) return 1;")
        else:
            lines.append(f"  if ({call} != 0) return 1;")
    lines += ["  return skipped ? 77 : 0;", "}", ""]
    text = "\n".join(lines)
    if not output.exists() or output.read_text() != text:
        output.write_text(text)


if __name__ == "__main__":
    main()
