#include "server/models/net_checkpoint.h"

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace gdaqd::server::models {
namespace {

using ::gdaqd::testing::StatusIs;
using ::testing::HasSubstr;

// Two parameters, a 3x2 matrix and a 3-vector, with fixed values.
std::vector<torch::Tensor> MakeParams() {
  return {torch::arange(6, torch::kFloat32).reshape({3, 2}).div(7).requires_grad_(),
          torch::full({3}, 0.25f).requires_grad_()};
}

// One Adam step on a fixed quadratic loss; `only_first` leaves the second parameter without a
// gradient, so it has no Adam state yet.
void Step(torch::optim::Adam& optimizer, const std::vector<torch::Tensor>& params, int k,
          bool only_first = false) {
  optimizer.zero_grad();
  torch::Tensor loss = params[0].mul(params[0]).sum().mul(0.5 + k);
  if (!only_first) loss = loss + params[1].sub(k).pow(2).sum();
  loss.backward();
  optimizer.step();
}

std::string Bytes(const torch::optim::Adam& optimizer, bool address_keyed = false) {
  torch::serialize::OutputArchive archive;
  if (address_keyed) {  // what earlier versions wrote: Adam::save
    torch::serialize::OutputArchive inner(archive.compilation_unit());
    optimizer.save(inner);
    archive.write("adam", inner);
  } else {
    WriteOptimizer(archive, "adam", optimizer);
  }
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

absl::Status Read(const std::string& bytes, torch::optim::Adam& optimizer,
                  const std::string& key = "adam") {
  torch::serialize::InputArchive archive;
  std::istringstream in(bytes);
  archive.load_from(in);
  std::vector<PendingOptimizer> pending;
  if (absl::Status s = ReadOptimizer(archive, key, optimizer, pending); !s.ok()) return s;
  ApplyPendingOptimizers(pending);
  return absl::OkStatus();
}

std::vector<float> Flat(const std::vector<torch::Tensor>& params) {
  std::vector<float> flat;
  for (const torch::Tensor& p : params) {
    torch::Tensor c = p.detach().contiguous();
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return flat;
}

TEST(NetCheckpointTest, TheSameAdamStateWritesTheSameBytes) {
  // Two optimisers over equal parameters at other addresses, stepped alike.
  std::vector<torch::Tensor> a_params = MakeParams(), b_params = MakeParams();
  torch::optim::Adam a(a_params, torch::optim::AdamOptions(0.01));
  torch::optim::Adam b(b_params, torch::optim::AdamOptions(0.01));
  for (int k = 0; k < 3; ++k) {
    Step(a, a_params, k);
    Step(b, b_params, k);
  }
  EXPECT_TRUE(Bytes(a) == Bytes(b));
  // Adam::save keys the state by address, so there the bytes differ: the reason for the format.
  EXPECT_FALSE(Bytes(a, true) == Bytes(b, true));
}

// A restored optimiser's next steps are bit-identical to the original's, from this format and
// from the address-keyed one of earlier checkpoints.
TEST(NetCheckpointTest, RestoredAdamContinuesIdentically) {
  for (bool address_keyed : {false, true}) {
    SCOPED_TRACE(address_keyed ? "address-keyed" : "index-keyed");
    std::vector<torch::Tensor> a_params = MakeParams();
    torch::optim::Adam a(a_params, torch::optim::AdamOptions(0.01));
    for (int k = 0; k < 4; ++k) Step(a, a_params, k);
    const std::string bytes = Bytes(a, address_keyed);

    std::vector<torch::Tensor> b_params = MakeParams();
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < b_params.size(); ++i) b_params[i].copy_(a_params[i]);
    }
    torch::optim::Adam b(b_params, torch::optim::AdamOptions(0.01));
    GDAQD_ASSERT_OK(Read(bytes, b));
    for (int k = 4; k < 7; ++k) {
      Step(a, a_params, k);
      Step(b, b_params, k);
    }
    EXPECT_EQ(Flat(b_params), Flat(a_params));
    // Without the moments the same steps go elsewhere (the test can tell).
    std::vector<torch::Tensor> c_params = MakeParams();
    torch::optim::Adam c(c_params, torch::optim::AdamOptions(0.01));
    for (int k = 0; k < 4; ++k) Step(c, c_params, k);
    torch::optim::Adam fresh(c_params, torch::optim::AdamOptions(0.01));
    for (int k = 4; k < 7; ++k) Step(fresh, c_params, k);
    EXPECT_NE(Flat(c_params), Flat(a_params));
  }
}

TEST(NetCheckpointTest, ParametersWithoutStateStayWithout) {
  std::vector<torch::Tensor> a_params = MakeParams();
  torch::optim::Adam a(a_params, torch::optim::AdamOptions(0.01));
  Step(a, a_params, 0, /*only_first=*/true);
  ASSERT_EQ(a.state().size(), 1u);

  std::vector<torch::Tensor> b_params = MakeParams();
  torch::optim::Adam b(b_params, torch::optim::AdamOptions(0.01));
  Step(b, b_params, 0);  // both parameters have state before the read
  ASSERT_EQ(b.state().size(), 2u);
  GDAQD_ASSERT_OK(Read(Bytes(a), b));
  EXPECT_EQ(b.state().size(), 1u);
  EXPECT_TRUE(Bytes(b) == Bytes(a));
}

TEST(NetCheckpointTest, MismatchedOrMissingStateIsRefusedAndChangesNothing) {
  std::vector<torch::Tensor> a_params = MakeParams();
  torch::optim::Adam a(a_params, torch::optim::AdamOptions(0.01));
  Step(a, a_params, 0);
  const std::string bytes = Bytes(a);

  // Same parameter count, another shape for the second.
  std::vector<torch::Tensor> other = {torch::zeros({3, 2}).requires_grad_(),
                                      torch::zeros({4}).requires_grad_()};
  torch::optim::Adam b(other, torch::optim::AdamOptions(0.01));
  Step(b, other, 1);
  const std::string before = Bytes(b);
  EXPECT_THAT(Read(bytes, b), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("adam has a p1.exp_avg that does not match")));
  EXPECT_TRUE(Bytes(b) == before);

  // Another parameter count.
  std::vector<torch::Tensor> one = {torch::zeros({3, 2}).requires_grad_()};
  torch::optim::Adam c(one, torch::optim::AdamOptions(0.01));
  EXPECT_THAT(Read(bytes, c), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("another parameter count than 1")));
  EXPECT_TRUE(c.state().empty());

  // No such key.
  EXPECT_THAT(Read(bytes, b, "critic_optimizer"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("optimizer critic_optimizer is missing")));
  EXPECT_TRUE(Bytes(b) == before);
}

}  // namespace
}  // namespace gdaqd::server::models
