// 2-D float32 arrays in NumPy's .npy format, so a researcher can `numpy.load()` the
// archive (centroids, descriptors, fitnesses, policy parameters) of a run directly.
//
// Files are NPY format v1.0, little-endian float32 ('<f4'), C (row-major) order, shape
// (rows, cols), with the header padded exactly as numpy >= 1.23 pads it: the data starts at
// a multiple of 64 bytes. See https://numpy.org/devdocs/reference/generated/numpy.lib.format.html
#ifndef GDAQD_CLIENT_RESULTS_NPY_H_
#define GDAQD_CLIENT_RESULTS_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::client {

// Writes `data` (row-major, rows * cols floats) to `path` as a (rows, cols) '<f4' array.
// The write is atomic (see atomic_file.h). Returns InvalidArgument if rows or cols is
// negative or data.size() != rows * cols; an errno-derived code if the file cannot be
// written. rows == 0 is allowed (an empty archive) and gives shape (0, cols).
absl::Status WriteNpyFloat32(const std::string& path, int64_t rows, int64_t cols,
                             absl::Span<const float> data);

// A dense row-major 2-D float array as read from a .npy file.
struct NpyArray {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> data;  // rows * cols values, element (r, c) at data[r * cols + c]
};

// Reads a file written by WriteNpyFloat32(), or any NPY v1.x / v2.x file holding a 2-D
// '<f4' array in C order. Returns NotFound if `path` does not exist, and InvalidArgument
// (with the path and the reason) for a bad magic string, an unsupported version, a malformed
// header, a dtype other than '<f4', Fortran order, a rank other than 2, or a data section
// shorter or longer than the shape requires.
absl::StatusOr<NpyArray> ReadNpyFloat32(const std::string& path);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_RESULTS_NPY_H_
