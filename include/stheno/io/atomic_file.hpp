#pragma once
// Crash-safe file replacement. Checkpoints are overwritten while training runs, and a process
// killed mid-write (or a machine losing power) must never leave a half-written checkpoint behind.
#include <string>
#include <string_view>

namespace stheno::io {

// Replaces the file at `path` with exactly `bytes`, atomically: at every moment, including after
// SIGKILL or a power loss, `path` holds either its old complete contents (or does not exist, if
// it did not) or the new complete contents.
//
// How: the bytes go to a uniquely named temporary file in the same directory
// (`path` + ".tmp." + pid + "." + counter), which is fsynced, renamed over `path`, and then the
// directory is fsynced so the rename itself survives a power loss. A file that already exists
// keeps its permission bits. `path` must name a file, not a symlink to be followed: a symlink is
// replaced by a regular file.
//
// On any failure the temporary file is removed and an IOError names `path`, the step that failed
// and the system's reason (strerror). A process killed at the wrong moment can leave a temporary
// file behind, but never touches `path` partially.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace stheno::io
