#pragma once
// Whole-file reads for the parsers, which all take bytes in memory: what they check then never
// depends on how the bytes arrived, and the fuzz targets reach exactly the code that files reach.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stheno::io {

// The bytes of the regular file at `path`. Throws IOError "op: cannot read 'path': reason" when
// it cannot be opened or read, is not a regular file, or is larger than `max_bytes`.
std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::string_view op,
                                          std::uint64_t max_bytes);

}  // namespace stheno::io
