// The MLP policy shared by coordinator and workers: its flat float32 parameter layout (the wire and
// archive format, see docs/policy_layout.md), its Flax-style initialisation and an Eigen forward
// pass for rollouts.
#ifndef GDAQD_COMMON_MLP_POLICY_H_
#define GDAQD_COMMON_MLP_POLICY_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace gdaqd::common {

// Element-wise activation of a layer. Swish is x * sigmoid(x) (jax.nn.swish with beta = 1).
enum class Activation { kRelu, kTanh, kSwish, kIdentity };

// Parses "relu", "tanh", "swish" or "identity" (exact, lower case).
// Returns InvalidArgument naming the value and the accepted names otherwise.
absl::StatusOr<Activation> ParseActivation(std::string_view name);

// What the network's outputs mean (docs/policy_layout.md, the config's PolicyConfig.Kind).
enum class PolicyKind {
  // action = MLP(input): action_dim outputs. The only kind before actor-learner methods.
  kDeterministic,
  // SAC's tanh-squashed Gaussian (QDax sac_networks.py with brax's NormalTanhDistribution):
  // 2 * action_dim outputs, the mean mu [action_dim] then the pre-std rho [action_dim];
  // std = softplus(rho) + min_std, u ~ N(mu, std^2), action = tanh(u). Its deterministic
  // (evaluation) action is tanh(mu).
  kTanhGaussian,
};

// Shape of a fully connected policy input -> hidden_sizes[0] -> ... -> output.
//
// The network's input is the observation [obs_dim] followed, for a skill-conditioned policy
// (num_skills > 0), by the one-hot of the episode's skill [num_skills]: input_dim() =
// obs_dim + num_skills. Its output is output_dim() = action_dim (kDeterministic) or
// 2 * action_dim (kTanhGaussian: mu then rho).
//
// Flat parameter layout (the order of a row of archive_params.npy and of the wire bytes):
// layers in order input -> hidden_0 -> ... -> hidden_{H-1} -> output, where layer l maps
// `in` = (l == 0 ? input_dim() : hidden_sizes[l-1]) to
// `out` = (l == H ? output_dim() : hidden_sizes[l]).
// Each layer contributes, back to back and without padding:
//   W [in, out], row-major: W[i, j] is at offset i * out + j from the start of the layer
//                           (Flax/QDax Dense "kernel" convention);
//   b [out]:                immediately after W.
// The layer computes y = act(x @ W + b); hidden layers use hidden_activation and the last layer
// output_activation. With no hidden layers the policy is a single act(x @ W + b) layer.
// num_params() = sum over layers of in * out + out.
struct MlpLayout {
  int obs_dim = 0;
  std::vector<int> hidden_sizes;  // e.g. {64, 64}; may be empty
  int action_dim = 0;
  Activation hidden_activation = Activation::kRelu;
  Activation output_activation = Activation::kTanh;
  PolicyKind kind = PolicyKind::kDeterministic;
  int num_skills = 0;      // 0 = not skill-conditioned
  float min_std = 0.001f;  // kTanhGaussian only: std = softplus(rho) + min_std

  // Width of the network's input: obs_dim + num_skills.
  int input_dim() const { return obs_dim + num_skills; }
  // Width of the network's output: action_dim, or 2 * action_dim for kTanhGaussian.
  int output_dim() const { return kind == PolicyKind::kTanhGaussian ? 2 * action_dim : action_dim; }

  // Number of float parameters of the flat layout. Precondition: Validate() is OK.
  int64_t num_params() const;

  // Returns InvalidArgument naming the field (obs_dim, action_dim, hidden_sizes[i]) if any size
  // is < 1, num_skills if it is negative, min_std unless it is finite and > 0 (kTanhGaussian),
  // output_activation unless it is identity (kTanhGaussian: the tanh comes after sampling).
  absl::Status Validate() const;

  bool operator==(const MlpLayout&) const = default;
};

// Fills `params` with a Flax lecun_uniform initialisation (as QDax's MLP): every W entry is drawn
// from U(-sqrt(3 / in), +sqrt(3 / in)) of its layer, every bias is 0. Draws come from
// std::mt19937_64(seed) in flat-layout order, one 64-bit draw per weight mapped to a float in
// [0, 1) from its top 24 bits (portable, unlike std::uniform_real_distribution), so the result
// depends only on the layout and the seed.
// Preconditions (CHECKed): layout.Validate() is OK and params.size() == layout.num_params().
void InitLecunUniform(const MlpLayout& layout, uint64_t seed, absl::Span<float> params);

// Eigen forward pass of one policy. Owns a copy of its parameters and all activation buffers.
// Thread-compatible: Act() writes internal scratch, so use one instance per thread (copies are
// independent).
class MlpPolicy {
 public:
  // Builds a policy from a flat parameter vector (layout above).
  // Returns InvalidArgument if the layout is invalid, if params.size() != num_params()
  // ("policy has N parameters, layout expects M") or if any parameter is NaN or infinite.
  static absl::StatusOr<MlpPolicy> Create(const MlpLayout& layout, absl::Span<const float> params);

  // Re-targets this policy at new parameters of the same layout, without allocating (the
  // workers' hot path). Same errors as Create(); on error the old parameters are kept.
  absl::Status SetParams(absl::Span<const float> params);

  // Selects the skill whose one-hot is appended to every observation from now on (skill 0 after
  // Create()). Returns InvalidArgument ("skill is 7, policy has 5 skills") unless
  // 0 <= skill < layout().num_skills; then the skill is unchanged.
  absl::Status SetSkill(int skill);

  // Writes the deterministic action (before any task clipping or scaling) for one observation:
  // the raw network output for kDeterministic, tanh(mu) for kTanhGaussian. Does not allocate.
  // Preconditions (DCHECKed): obs.size() == obs_dim and action.size() == action_dim.
  void Act(absl::Span<const float> obs, absl::Span<float> action);

  // kTanhGaussian: writes the action tanh(mu + std * normal) for one observation, where `normal`
  // [action_dim] holds standard normal draws chosen by the caller (the episode's noise, so that
  // sampling is deterministic). Does not allocate. Preconditions (DCHECKed): the kind is
  // kTanhGaussian, obs.size() == obs_dim, normal.size() == action.size() == action_dim.
  void Sample(absl::Span<const float> obs, absl::Span<const float> normal,
              absl::Span<float> action);

  // The raw network output [output_dim()] for one observation (kTanhGaussian: mu then rho, not
  // the std), valid until the next call on this policy. For tests and tools. Does not allocate.
  // Precondition (DCHECKed): obs.size() == obs_dim.
  absl::Span<const float> Forward(absl::Span<const float> obs);

  const MlpLayout& layout() const { return layout_; }
  int skill() const { return skill_; }

 private:
  // One dense layer y = act(x @ W + b) and its output buffer. y = W^T x is computed with the
  // faster of Eigen's two matrix-vector kernels for the layer's shape: column-major W^T (axpy
  // over inputs, best when out >= in) or row-major W^T (dot products, best when out < in, e.g.
  // a 64 -> 2 output layer). Exactly one of the two matrices is non-empty.
  struct Layer {
    int in = 0;
    int out = 0;
    Eigen::MatrixXf weight_t_axpy;  // [out, in] column-major: its memory is the flat W [in, out]
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>
        weight_t_dot;        // [out, in] row-major (a transposed copy of the flat W)
    Eigen::VectorXf bias;    // [out]
    Eigen::VectorXf output;  // [out], scratch written by Act()
    Activation activation = Activation::kIdentity;
  };

  explicit MlpPolicy(const MlpLayout& layout);

  // layer.output += W^T x for an Eigen vector expression x [in].
  template <typename Input>
  static void AddWeightTimes(Layer& layer, const Input& x);

  MlpLayout layout_;
  std::vector<Layer> layers_;  // input -> output; size hidden_sizes.size() + 1
  int64_t num_params_ = 0;
  int skill_ = 0;          // in [0, num_skills) when num_skills > 0
  Eigen::VectorXf input_;  // [input_dim()] obs then one-hot(skill_); only if num_skills > 0
};

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_MLP_POLICY_H_
