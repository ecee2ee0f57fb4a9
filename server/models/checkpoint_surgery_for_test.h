// Tests only: a learner checkpoint (the bytes of a torch::serialize::OutputArchive, as Td3::Save
// and Sac::Save write them) with one top-level tensor replaced, to check that Load refuses a
// malformed entry and changes nothing.
#ifndef GDAQD_SERVER_MODELS_CHECKPOINT_SURGERY_FOR_TEST_H_
#define GDAQD_SERVER_MODELS_CHECKPOINT_SURGERY_FOR_TEST_H_

#include <torch/torch.h>

#include <sstream>
#include <string>

namespace gdaqd::server::models::checkpoint_surgery {

// Copies every tensor and nested archive of `in` into `out`, writing `replacement` instead of the
// tensor named `key` (when `key` is not empty). Attributes that are neither (the archive's own
// bookkeeping) are left to OutputArchive.
inline void CopyArchive(torch::serialize::InputArchive& in, torch::serialize::OutputArchive& out,
                        const std::string& key, const torch::Tensor& replacement) {
  for (const std::string& name : in.keys()) {
    torch::Tensor tensor;
    torch::serialize::InputArchive nested;
    if (!key.empty() && name == key) {
      out.write(name, replacement);
    } else if (in.try_read(name, tensor)) {
      out.write(name, tensor);
    } else if (in.try_read(name, nested)) {
      torch::serialize::OutputArchive copy;
      CopyArchive(nested, copy, "", replacement);
      out.write(name, copy);
    }
  }
}

// The top-level tensor `key` of `checkpoint`; an undefined tensor if there is none.
inline torch::Tensor ReadTensor(const std::string& checkpoint, const std::string& key) {
  torch::serialize::InputArchive in;
  std::istringstream bytes(checkpoint);
  in.load_from(bytes);
  torch::Tensor tensor;
  in.try_read(key, tensor);
  return tensor;
}

// `checkpoint` with its top-level tensor `key` replaced by `replacement`.
inline std::string WithTensorReplaced(const std::string& checkpoint, const std::string& key,
                                      const torch::Tensor& replacement) {
  torch::serialize::InputArchive in;
  std::istringstream bytes(checkpoint);
  in.load_from(bytes);
  torch::serialize::OutputArchive out;
  CopyArchive(in, out, key, replacement);
  std::ostringstream written;
  out.save_to(written);
  return written.str();
}

}  // namespace gdaqd::server::models::checkpoint_surgery

#endif  // GDAQD_SERVER_MODELS_CHECKPOINT_SURGERY_FOR_TEST_H_
