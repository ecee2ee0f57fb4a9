#include "server/models/dynamics_ensemble.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <istream>
#include <limits>
#include <numeric>
#include <ostream>
#include <sstream>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/ensemble_stepper.h"
#include "server/models/errors.h"
#include "server/models/net_checkpoint.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {
namespace {

constexpr char kMagic[8] = {'G', 'D', 'Q', 'D', 'E', 'N', 'S', 'B'};
constexpr uint32_t kVersion = 1;
// Normaliser stds below this are replaced by 1 (constant features, e.g. a fixed joint).
constexpr double kMinStd = 1e-6;
constexpr int kMaxDim = 1 << 16;
// Largest torch archive Load() accepts (a 4 x (512, 512) ensemble with Adam state is ~15 MB).
constexpr uint64_t kMaxArchiveBytes = uint64_t{1} << 34;

absl::Status CheckPositive(const char* field, int64_t value) {
  if (value >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be >= 1, got ", value));
}

absl::Status ValidateConfig(int obs_dim, int action_dim, const EnsembleConfig& c) {
  if (obs_dim < 1 || obs_dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("obs_dim must be in [1, ", kMaxDim, "], got ", obs_dim));
  }
  if (action_dim < 1 || action_dim > kMaxDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("action_dim must be in [1, ", kMaxDim, "], got ", action_dim));
  }
  for (size_t i = 0; i < c.hidden.size(); ++i) {
    if (c.hidden[i] < 1 || c.hidden[i] > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.hidden[", i, "] must be in [1, ", kMaxDim, "], got ", c.hidden[i]));
    }
  }
  if (!(c.learning_rate > 0) || !std::isfinite(c.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.learning_rate must be finite and > 0, got ", c.learning_rate));
  }
  if (!std::isfinite(c.min_log_std) || !std::isfinite(c.max_log_std) ||
      !(c.min_log_std < c.max_log_std)) {
    return absl::InvalidArgumentError(absl::StrCat("config.min_log_std (", c.min_log_std,
                                                   ") must be finite and below ",
                                                   "config.max_log_std (", c.max_log_std, ")"));
  }
  if (!(c.holdout_fraction >= 0 && c.holdout_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.holdout_fraction must be in [0, 1), got ", c.holdout_fraction));
  }
  if (!(c.min_relative_improvement >= 0) || !std::isfinite(c.min_relative_improvement)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.min_relative_improvement must be finite and >= 0, got ",
                     c.min_relative_improvement));
  }
  for (auto [field, value] : {std::pair<const char*, int>{"config.members", c.members},
                              {"config.patience", c.patience},
                              {"config.max_steps", c.max_steps},
                              {"config.steps_per_check", c.steps_per_check},
                              {"config.batch_size", c.batch_size},
                              {"config.max_holdout_rows", c.max_holdout_rows}}) {
    if (absl::Status status = CheckPositive(field, value); !status.ok()) return status;
  }
  return absl::OkStatus();
}

// Truncated normal (resampled outside +-2 sigma) scaled to unit variance times `std`:
// JAX's lecun_normal / variance_scaling(1, fan_in, truncated_normal), as in imagined-qd.
torch::Tensor TruncatedNormal(at::IntArrayRef shape, double std, at::Generator& gen) {
  constexpr double kUnitVarianceScale = 0.87962566103423978;  // std of N(0,1) cut at +-2
  torch::Tensor w = torch::randn(shape, gen);
  while (true) {
    torch::Tensor outside = w.abs() > 2;
    if (!outside.any().item<bool>()) break;
    w = torch::where(outside, torch::randn(shape, gen), w);
  }
  return w.mul_(std / kUnitVarianceScale);
}

// Mean and population std over rows of x [N, D]; std < kMinStd -> 1.
std::pair<torch::Tensor, torch::Tensor> ZScoreStats(const torch::Tensor& x) {
  torch::Tensor mean = x.mean(0);
  torch::Tensor std = x.std(0, /*unbiased=*/false);
  std = torch::where(std < kMinStd, torch::ones_like(std), std);
  return {mean, std};
}

// Host copy of a 1-D float tensor.
std::vector<float> ToHost(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// InvalidArgument naming the first non-finite value of `values`.
absl::Status CheckFinite(const char* name, absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(name, "[", i, "] is not finite"));
    }
  }
  return absl::OkStatus();
}

// Turns LibTorch errors of Load() (corrupt archives) into InvalidArgument.
absl::Status AsInvalidArgument(absl::Status status) {
  if (status.code() != absl::StatusCode::kInternal) return status;
  return absl::InvalidArgumentError(status.message());
}

// ---- Checkpoint helpers: the config as archive entries, and the framed archive bytes.

void WriteConfig(int obs_dim, int action_dim, const EnsembleConfig& c,
                 torch::serialize::OutputArchive& archive) {
  auto write_int = [&](const char* key, int64_t v) { archive.write(key, c10::IValue(v)); };
  auto write_double = [&](const char* key, double v) { archive.write(key, c10::IValue(v)); };
  write_int("obs_dim", obs_dim);
  write_int("action_dim", action_dim);
  write_int("members", c.members);
  archive.write("hidden", torch::tensor(std::vector<int64_t>(c.hidden.begin(), c.hidden.end()),
                                        torch::kInt64));
  write_double("learning_rate", c.learning_rate);
  write_double("min_log_std", c.min_log_std);
  write_double("max_log_std", c.max_log_std);
  write_double("holdout_fraction", c.holdout_fraction);
  write_int("patience", c.patience);
  write_double("min_relative_improvement", c.min_relative_improvement);
  write_int("max_steps", c.max_steps);
  write_int("steps_per_check", c.steps_per_check);
  write_int("batch_size", c.batch_size);
  write_int("max_holdout_rows", c.max_holdout_rows);
  write_int("seed", static_cast<int64_t>(c.seed));
}

// Inverse of WriteConfig (device left at its default). Throws c10::Error on missing keys or
// wrong types; Create() validates the values.
EnsembleConfig ReadConfig(torch::serialize::InputArchive& archive, int* obs_dim, int* action_dim) {
  auto read = [&](const char* key) {
    c10::IValue v;
    archive.read(key, v);
    return v;
  };
  auto read_int = [&](const char* key) {
    const int64_t v = read(key).toInt();
    TORCH_CHECK(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(), key,
                " is out of range: ", v);
    return static_cast<int>(v);
  };
  *obs_dim = read_int("obs_dim");
  *action_dim = read_int("action_dim");
  EnsembleConfig c;
  c.members = read_int("members");
  torch::Tensor hidden;
  archive.read("hidden", hidden);
  hidden = hidden.to(torch::kCPU, torch::kInt64).contiguous();
  c.hidden.clear();
  for (int64_t i = 0; i < hidden.numel(); ++i) {
    const int64_t h = hidden.data_ptr<int64_t>()[i];
    c.hidden.push_back(static_cast<int>(std::clamp<int64_t>(h, -1, kMaxDim + 1)));
  }
  c.learning_rate = read("learning_rate").toDouble();
  c.min_log_std = static_cast<float>(read("min_log_std").toDouble());
  c.max_log_std = static_cast<float>(read("max_log_std").toDouble());
  c.holdout_fraction = read("holdout_fraction").toDouble();
  c.patience = read_int("patience");
  c.min_relative_improvement = read("min_relative_improvement").toDouble();
  c.max_steps = read_int("max_steps");
  c.steps_per_check = read_int("steps_per_check");
  c.batch_size = read_int("batch_size");
  c.max_holdout_rows = read_int("max_holdout_rows");
  c.seed = static_cast<uint64_t>(read("seed").toInt());
  return c;
}

// Reads Save()'s framing (magic, version, length) and returns the torch archive bytes.
absl::StatusOr<std::string> ReadFramedArchive(std::istream& in) {
  char magic[sizeof(kMagic)];
  if (!in.read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return absl::InvalidArgumentError("not a gdaqd dynamics ensemble (bad magic)");
  }
  uint32_t version = 0;
  uint64_t length = 0;
  if (!in.read(reinterpret_cast<char*>(&version), sizeof(version)) ||
      !in.read(reinterpret_cast<char*>(&length), sizeof(length))) {
    return absl::InvalidArgumentError("dynamics ensemble header is truncated");
  }
  if (version != kVersion) {
    return absl::InvalidArgumentError(absl::StrCat("dynamics ensemble version ", version,
                                                   " is not supported (want ", kVersion, ")"));
  }
  if (length > kMaxArchiveBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("dynamics ensemble archive length ", length, " is implausible"));
  }
  // Read in chunks so that a lying length fails at end of stream, not in the allocator.
  std::string bytes;
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  while (bytes.size() < length) {
    const size_t offset = bytes.size();
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kChunk, length - offset));
    bytes.resize(offset + chunk);
    if (!in.read(bytes.data() + offset, static_cast<std::streamsize>(chunk))) {
      return absl::InvalidArgumentError("dynamics ensemble archive is truncated");
    }
  }
  return bytes;
}

}  // namespace

// Normalised tensors of one Train() call, on the ensemble's device.
struct DynamicsEnsemble::SplitData {
  torch::Tensor train_x;    // [N_train, in]
  torch::Tensor train_y;    // [N_train, obs_dim]
  torch::Tensor holdout_x;  // [H, in], H <= max_holdout_rows, the scored holdout rows
  torch::Tensor holdout_y;  // [H, obs_dim]
};

DynamicsEnsemble::DynamicsEnsemble(int obs_dim, int action_dim, const EnsembleConfig& config,
                                   torch::Device device)
    : obs_dim_(obs_dim), action_dim_(action_dim), config_(config), device_(device) {}

DynamicsEnsemble::~DynamicsEnsemble() = default;

absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> DynamicsEnsemble::Create(
    int obs_dim, int action_dim, const EnsembleConfig& config) {
  if (absl::Status status = ValidateConfig(obs_dim, action_dim, config); !status.ok()) {
    return status;
  }
  absl::StatusOr<torch::Device> device = SelectDevice(config.device);
  if (!device.ok()) return device.status();
  std::unique_ptr<DynamicsEnsemble> ensemble(
      new DynamicsEnsemble(obs_dim, action_dim, config, *device));
  absl::Status status = CallTorch("DynamicsEnsemble::Create", [&]() -> absl::Status {
    ensemble->InitWeights();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return ensemble;
}

void DynamicsEnsemble::InitWeights() {
  at::Generator gen = at::detail::createCPUGenerator(config_.seed);
  std::vector<int64_t> sizes = {obs_dim_ + action_dim_};
  sizes.insert(sizes.end(), config_.hidden.begin(), config_.hidden.end());
  sizes.push_back(int64_t{2} * obs_dim_);
  const int64_t members = config_.members;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device_);
  weights_.clear();
  biases_.clear();
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double std = 1.0 / std::sqrt(static_cast<double>(sizes[l]));
    weights_.push_back(TruncatedNormal({members, sizes[l], sizes[l + 1]}, std, gen)
                           .to(device_)
                           .set_requires_grad(true));
    biases_.push_back(torch::zeros({members, 1, sizes[l + 1]}, options).set_requires_grad(true));
  }
  const int64_t in = obs_dim_ + action_dim_;
  normalizer_ = {torch::zeros({in}, options), torch::ones({in}, options),
                 torch::zeros({obs_dim_}, options), torch::ones({obs_dim_}, options)};
  delta_mean_host_.assign(obs_dim_, 0.0f);
  delta_std_host_.assign(obs_dim_, 1.0f);
  std::vector<torch::Tensor> params = weights_;
  params.insert(params.end(), biases_.begin(), biases_.end());
  optimizer_ = std::make_unique<torch::optim::Adam>(
      params, torch::optim::AdamOptions(config_.learning_rate));
}

DeltaDistribution DynamicsEnsemble::Forward(const torch::Tensor& x) const {
  torch::Tensor h = x;
  for (size_t l = 0; l < weights_.size(); ++l) {
    h = torch::baddbmm(biases_[l], h, weights_[l]);  // [E, B, out_l], all members at once
    if (l + 1 < weights_.size()) h = torch::relu(h);
  }
  const torch::Tensor raw_log_std = h.narrow(2, obs_dim_, obs_dim_);
  // PETS (Chua et al. 2018) soft clamp into [min, max] with constant bounds.
  const double lo = config_.min_log_std, hi = config_.max_log_std;
  torch::Tensor log_std = hi - torch::softplus(hi - raw_log_std);
  log_std = lo + torch::softplus(log_std - lo);
  return {h.narrow(2, 0, obs_dim_), log_std};
}

torch::Tensor DynamicsEnsemble::Nll(const DeltaDistribution& pred, const torch::Tensor& y) const {
  // sum_dims[(mu - y)^2 exp(-2 log_std) + 2 log_std], mean over rows and members (PETS; the
  // constant log(2 pi) and the factor 1/2 are dropped, as in DAQD-2021).
  torch::Tensor per_row =
      ((pred.mean - y).square() * torch::exp(-2 * pred.log_std) + 2 * pred.log_std).sum(-1);
  return per_row.mean();
}

// ---------------------------------------------------------------------------------------------
// Training

absl::StatusOr<TrainReport> DynamicsEnsemble::Train(absl::Span<const float> rows,
                                                    std::mt19937_64& rng,
                                                    const InterruptFlag* interrupt) {
  const int row_size = 2 * obs_dim_ + action_dim_ + 3;
  if (rows.size() % row_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rows has ", rows.size(), " floats, not a multiple of the row size ", row_size));
  }
  const int64_t num_rows = static_cast<int64_t>(rows.size()) / row_size;
  const int64_t min_rows = config_.holdout_fraction > 0 ? 2 : 1;
  if (num_rows < min_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("rows has ", num_rows, " transitions, Train needs at least ", min_rows));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!std::isfinite(rows[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows value ", i % row_size, " of row ", i / row_size, " is not finite"));
    }
  }
  if (Interrupted(interrupt)) return InterruptedError("dynamics model training");
  return CallTorch("DynamicsEnsemble::Train", [&]() -> absl::StatusOr<TrainReport> {
    return TrainImpl(rows, rng, interrupt);
  });
}

DynamicsEnsemble::SplitData DynamicsEnsemble::PrepareData(absl::Span<const float> rows,
                                                          int64_t holdout_rows,
                                                          std::mt19937_64& rng) {
  const int row_size = 2 * obs_dim_ + action_dim_ + 3;
  const int64_t n = static_cast<int64_t>(rows.size()) / row_size;
  // Inputs concat(obs, action) and targets next_obs - obs; normaliser from all rows.
  const torch::Tensor raw =
      torch::from_blob(const_cast<float*>(rows.data()), {n, row_size}, torch::kFloat32);
  const torch::Tensor obs = raw.narrow(1, 0, obs_dim_);
  const torch::Tensor x = raw.narrow(1, 0, obs_dim_ + action_dim_).to(device_);
  const torch::Tensor y = (raw.narrow(1, obs_dim_ + action_dim_ + 1, obs_dim_) - obs).to(device_);
  auto [input_mean, input_std] = ZScoreStats(x);
  auto [delta_mean, delta_std] = ZScoreStats(y);
  normalizer_ = {input_mean, input_std, delta_mean, delta_std};
  delta_mean_host_ = ToHost(delta_mean);
  delta_std_host_ = ToHost(delta_std);
  const torch::Tensor xn = (x - input_mean) / input_std;
  const torch::Tensor yn = (y - delta_mean) / delta_std;

  // Random split: the first holdout_rows of a permutation are held out.
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const torch::Tensor perm_t = torch::from_blob(perm.data(), {n}, torch::kInt64).to(device_);
  SplitData data;
  const torch::Tensor train_idx = perm_t.narrow(0, holdout_rows, n - holdout_rows);
  data.train_x = xn.index_select(0, train_idx);
  data.train_y = yn.index_select(0, train_idx);
  const int64_t scored = std::min<int64_t>(holdout_rows, config_.max_holdout_rows);
  const torch::Tensor holdout_idx = perm_t.narrow(0, 0, scored);
  data.holdout_x = xn.index_select(0, holdout_idx);
  data.holdout_y = yn.index_select(0, holdout_idx);
  return data;
}

absl::StatusOr<TrainReport> DynamicsEnsemble::TrainImpl(absl::Span<const float> rows,
                                                        std::mt19937_64& rng,
                                                        const InterruptFlag* interrupt) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(rows.size()) / (2 * obs_dim_ + action_dim_ + 3);
  TrainReport report;
  report.holdout_rows =
      config_.holdout_fraction > 0
          ? std::clamp<int64_t>(std::llround(static_cast<double>(n) * config_.holdout_fraction), 1,
                                n - 1)
          : 0;
  report.train_rows = n - report.holdout_rows;
  const SplitData data = PrepareData(rows, report.holdout_rows, rng);
  const bool has_holdout = report.holdout_rows > 0;

  const double nan = std::numeric_limits<double>::quiet_NaN();
  report.first_holdout_loss = report.holdout_loss = report.holdout_mse = nan;
  double best = std::numeric_limits<double>::infinity();
  int checks_without_improvement = 0;
  torch::Tensor loss_sum =
      torch::scalar_tensor(0.0, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  int steps_in_window = 0;
  while (report.steps < config_.max_steps) {
    // A step is ~0.1 s at the defaults on one core: polling each keeps interrupts sub-second.
    if (Interrupted(interrupt)) return InterruptedError("dynamics model training");
    loss_sum += TrainStep(data, rng);
    ++report.steps;
    ++steps_in_window;
    if (report.steps % config_.steps_per_check != 0 && report.steps != config_.max_steps) {
      continue;
    }
    // A check: the only host synchronisation points of the loop.
    report.train_loss = loss_sum.item<double>() / steps_in_window;
    loss_sum.zero_();
    steps_in_window = 0;
    if (!std::isfinite(report.train_loss)) {
      return NonFiniteLossError("dynamics model training", report.train_loss,
                                absl::StrCat("in step ", report.steps));
    }
    if (!has_holdout) continue;
    std::tie(report.holdout_loss, report.holdout_mse) = EvaluateHoldout(data);
    if (++report.checks == 1) report.first_holdout_loss = report.holdout_loss;
    if (!std::isfinite(report.holdout_loss)) {
      return NonFiniteLossError("dynamics model holdout", report.holdout_loss,
                                absl::StrCat("in step ", report.steps));
    }
    // Relative improvement as in imagined-qd: (best - loss) / |best| > threshold.
    if (!std::isfinite(best) ||
        best - report.holdout_loss > config_.min_relative_improvement * std::abs(best)) {
      best = report.holdout_loss;
      checks_without_improvement = 0;
    } else if (++checks_without_improvement >= config_.patience) {
      report.stopped_early = report.steps < config_.max_steps;
      break;
    }
  }
  trained_ = true;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

torch::Tensor DynamicsEnsemble::TrainStep(const SplitData& data, std::mt19937_64& rng) {
  // Bootstrap by resampling: every member draws its own minibatch with replacement.
  const int64_t members = config_.members, batch = config_.batch_size;
  std::uniform_int_distribution<int64_t> pick(0, data.train_x.size(0) - 1);
  std::vector<int64_t> idx(members * batch);
  for (int64_t& i : idx) i = pick(rng);
  const torch::Tensor idx_t =
      torch::from_blob(idx.data(), {members * batch}, torch::kInt64).to(device_);
  const torch::Tensor xb = data.train_x.index_select(0, idx_t).view({members, batch, -1});
  const torch::Tensor yb = data.train_y.index_select(0, idx_t).view({members, batch, -1});
  optimizer_->zero_grad();
  torch::Tensor loss = Nll(Forward(xb), yb);
  loss.backward();
  optimizer_->step();
  return loss.detach();
}

std::pair<double, double> DynamicsEnsemble::EvaluateHoldout(const SplitData& data) const {
  torch::NoGradGuard no_grad;
  const int64_t members = config_.members;
  const torch::Tensor x = data.holdout_x.unsqueeze(0).expand({members, -1, -1});
  const torch::Tensor y = data.holdout_y.unsqueeze(0).expand({members, -1, -1});
  const DeltaDistribution pred = Forward(x);
  const double nll = Nll(pred, y).item<double>();
  const double mse = ((pred.mean - y) * normalizer_.delta_std).square().mean().item<double>();
  return {nll, mse};
}

// ---------------------------------------------------------------------------------------------
// Prediction

absl::Status DynamicsEnsemble::Predict(absl::Span<const float> obs, absl::Span<const float> actions,
                                       absl::Span<const int32_t> member, bool sample,
                                       std::mt19937_64& rng, absl::Span<float> next_obs) const {
  const int64_t b = static_cast<int64_t>(member.size());
  for (auto [name, span_size, dim] :
       {std::tuple<const char*, size_t, int>{"obs", obs.size(), obs_dim_},
        {"actions", actions.size(), action_dim_},
        {"next_obs", next_obs.size(), obs_dim_}}) {
    if (static_cast<int64_t>(span_size) != b * dim) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " has ", span_size, " floats, want ", b, " rows x ", dim));
    }
  }
  std::vector<int64_t> count(config_.members, 0), slot(b);
  for (int64_t i = 0; i < b; ++i) {
    if (member[i] < 0 || member[i] >= config_.members) {
      return absl::InvalidArgumentError(
          absl::StrCat("member[", i, "] is ", member[i], ", want [0, ", config_.members, ")"));
    }
    slot[i] = count[member[i]]++;
  }
  if (absl::Status st = CheckFinite("obs", obs); !st.ok()) return st;
  if (absl::Status st = CheckFinite("actions", actions); !st.ok()) return st;
  if (b == 0) return absl::OkStatus();

  // Group rows by member into [E, max_count, in], zero-padded.
  const int64_t in = obs_dim_ + action_dim_;
  const int64_t width = *std::max_element(count.begin(), count.end());
  std::vector<float> grouped(config_.members * width * in, 0.0f);
  for (int64_t i = 0; i < b; ++i) {
    float* dst = grouped.data() + (member[i] * width + slot[i]) * in;
    std::copy_n(obs.data() + i * obs_dim_, obs_dim_, dst);
    std::copy_n(actions.data() + i * action_dim_, action_dim_, dst + obs_dim_);
  }
  std::vector<float> mean, log_std;
  absl::Status status = CallTorch("DynamicsEnsemble::Predict", [&]() -> absl::Status {
    c10::InferenceMode inference;
    const torch::Tensor x =
        torch::from_blob(grouped.data(), {config_.members, width, in}, torch::kFloat32).to(device_);
    const DeltaDistribution pred = Forward((x - normalizer_.input_mean) / normalizer_.input_std);
    mean = ToHost(pred.mean.flatten());
    if (sample) log_std = ToHost(pred.log_std.flatten());
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  // Denormalise on the host; noise is drawn from `rng` in row-major order of next_obs.
  std::normal_distribution<float> normal;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t base = (member[i] * width + slot[i]) * obs_dim_;
    for (int d = 0; d < obs_dim_; ++d) {
      float z = mean[base + d];
      if (sample) z += std::exp(log_std[base + d]) * normal(rng);
      next_obs[i * obs_dim_ + d] =
          obs[i * obs_dim_ + d] + z * delta_std_host_[d] + delta_mean_host_[d];
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<torch::Tensor> DynamicsEnsemble::NormalizedGroupedInputs(
    const torch::Tensor& obs, const torch::Tensor& actions) const {
  auto check = [&](const char* name, const torch::Tensor& t, int64_t dim) -> absl::Status {
    if (!t.defined() || t.dim() != 3 || t.size(0) != config_.members || t.size(2) != dim ||
        t.scalar_type() != torch::kFloat32) {
      std::ostringstream got;
      if (t.defined()) {
        got << t.sizes() << " " << t.scalar_type();
      } else {
        got << "undefined";
      }
      return absl::InvalidArgumentError(absl::StrCat(name, " is ", got.str(), ", want [",
                                                     config_.members, ", B, ", dim, "] float32"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = check("obs", obs, obs_dim_); !s.ok()) return s;
  if (absl::Status s = check("actions", actions, action_dim_); !s.ok()) return s;
  if (obs.size(1) != actions.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("obs has ", obs.size(1), " rows per member, ", "actions ", actions.size(1)));
  }
  const torch::Tensor x = torch::cat({obs.to(device_), actions.to(device_)}, 2);
  return (x - normalizer_.input_mean) / normalizer_.input_std;
}

absl::StatusOr<torch::Tensor> DynamicsEnsemble::PredictGrouped(
    const torch::Tensor& obs, const torch::Tensor& actions, bool sample,
    c10::optional<at::Generator> generator) const {
  return CallTorch("DynamicsEnsemble::PredictGrouped", [&]() -> absl::StatusOr<torch::Tensor> {
    c10::InferenceMode inference;
    absl::StatusOr<torch::Tensor> x = NormalizedGroupedInputs(obs, actions);
    if (!x.ok()) return x.status();
    const DeltaDistribution pred = Forward(*x);
    torch::Tensor z = pred.mean;
    if (sample) {
      z = z + torch::exp(pred.log_std) * torch::randn(z.sizes(), generator, z.options());
    }
    return obs.to(device_) + z * normalizer_.delta_std + normalizer_.delta_mean;
  });
}

absl::StatusOr<std::unique_ptr<GroupedStepper>> DynamicsEnsemble::MakeHostStepper(
    int64_t per_member) const {
  absl::StatusOr<std::unique_ptr<EnsembleStepper>> fused =
      EnsembleStepper::Create(*this, per_member);
  if (fused.ok()) return std::unique_ptr<GroupedStepper>(*std::move(fused));
  if (!absl::IsUnimplemented(fused.status())) return fused.status();
  return GroupedDynamics::MakeHostStepper(per_member);
}

absl::StatusOr<DeltaDistribution> DynamicsEnsemble::PredictDelta(
    const torch::Tensor& obs, const torch::Tensor& actions) const {
  return CallTorch("DynamicsEnsemble::PredictDelta", [&]() -> absl::StatusOr<DeltaDistribution> {
    c10::InferenceMode inference;
    absl::StatusOr<torch::Tensor> x = NormalizedGroupedInputs(obs, actions);
    if (!x.ok()) return x.status();
    return Forward(*x);
  });
}

// ---------------------------------------------------------------------------------------------
// Snapshots and checkpoints

absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> DynamicsEnsemble::Clone() const {
  std::unique_ptr<DynamicsEnsemble> copy(
      new DynamicsEnsemble(obs_dim_, action_dim_, config_, device_));
  absl::Status status = CallTorch("DynamicsEnsemble::Clone", [&]() -> absl::Status {
    copy->InitWeights();  // shapes and optimiser; values overwritten below
    torch::NoGradGuard no_grad;
    for (size_t l = 0; l < weights_.size(); ++l) {
      copy->weights_[l].copy_(weights_[l]);
      copy->biases_[l].copy_(biases_[l]);
    }
    copy->normalizer_ = {normalizer_.input_mean.clone(), normalizer_.input_std.clone(),
                         normalizer_.delta_mean.clone(), normalizer_.delta_std.clone()};
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  copy->delta_mean_host_ = delta_mean_host_;
  copy->delta_std_host_ = delta_std_host_;
  copy->trained_ = trained_;
  return copy;
}

absl::Status DynamicsEnsemble::Save(std::ostream& out) const {
  std::ostringstream blob;
  absl::Status status = CallTorch("DynamicsEnsemble::Save", [&]() -> absl::Status {
    torch::serialize::OutputArchive archive;
    WriteConfig(obs_dim_, action_dim_, config_, archive);
    archive.write("trained", c10::IValue(trained_));
    for (size_t l = 0; l < weights_.size(); ++l) {
      archive.write(absl::StrCat("w", l), weights_[l].detach());
      archive.write(absl::StrCat("b", l), biases_[l].detach());
    }
    archive.write("input_mean", normalizer_.input_mean);
    archive.write("input_std", normalizer_.input_std);
    archive.write("delta_mean", normalizer_.delta_mean);
    archive.write("delta_std", normalizer_.delta_std);
    WriteOptimizer(archive, "adam", *optimizer_);
    archive.save_to(blob);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  const std::string bytes = std::move(blob).str();
  static_assert(std::endian::native == std::endian::little, "the header is little-endian");
  const uint32_t version = kVersion;
  const uint64_t length = bytes.size();
  out.write(kMagic, sizeof(kMagic));
  out.write(reinterpret_cast<const char*>(&version), sizeof(version));
  out.write(reinterpret_cast<const char*>(&length), sizeof(length));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return absl::DataLossError("writing the dynamics ensemble failed");
  return absl::OkStatus();
}

absl::Status DynamicsEnsemble::RestoreState(torch::serialize::InputArchive& archive) {
  c10::IValue trained;
  archive.read("trained", trained);
  trained_ = trained.toBool();
  torch::NoGradGuard no_grad;
  auto read_into = [&](const std::string& key, torch::Tensor& dst) -> absl::Status {
    torch::Tensor t;
    archive.read(key, t);
    if (!t.sizes().equals(dst.sizes()) || t.scalar_type() != dst.scalar_type()) {
      std::ostringstream msg;
      msg << key << " has shape " << t.sizes() << " " << t.scalar_type() << ", want " << dst.sizes()
          << " " << dst.scalar_type();
      return absl::InvalidArgumentError(msg.str());
    }
    dst.copy_(t);
    return absl::OkStatus();
  };
  std::vector<std::pair<std::string, torch::Tensor*>> targets = {
      {"input_mean", &normalizer_.input_mean},
      {"input_std", &normalizer_.input_std},
      {"delta_mean", &normalizer_.delta_mean},
      {"delta_std", &normalizer_.delta_std}};
  for (size_t l = 0; l < weights_.size(); ++l) {
    targets.emplace_back(absl::StrCat("w", l), &weights_[l]);
    targets.emplace_back(absl::StrCat("b", l), &biases_[l]);
  }
  for (auto& [key, dst] : targets) {
    if (absl::Status s = read_into(key, *dst); !s.ok()) return s;
  }
  delta_mean_host_ = ToHost(normalizer_.delta_mean);
  delta_std_host_ = ToHost(normalizer_.delta_std);
  std::vector<PendingOptimizer> optimizers;
  if (absl::Status s = ReadOptimizer(archive, "adam", *optimizer_, optimizers); !s.ok()) return s;
  ApplyPendingOptimizers(optimizers);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> DynamicsEnsemble::Load(
    std::istream& in, const std::string& device) {
  absl::StatusOr<std::string> bytes = ReadFramedArchive(in);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<torch::Device> target = SelectDevice(device);
  if (!target.ok()) return target.status();
  std::unique_ptr<DynamicsEnsemble> ensemble;
  absl::Status status = CallTorch("DynamicsEnsemble::Load", [&]() -> absl::Status {
    std::istringstream stream(*std::move(bytes));
    torch::serialize::InputArchive archive;
    archive.load_from(stream, *target);
    int obs_dim = 0, action_dim = 0;
    EnsembleConfig config = ReadConfig(archive, &obs_dim, &action_dim);
    config.device = device;
    absl::StatusOr<std::unique_ptr<DynamicsEnsemble>> created = Create(obs_dim, action_dim, config);
    if (!created.ok()) return created.status();
    ensemble = *std::move(created);
    return ensemble->RestoreState(archive);
  });
  if (!status.ok()) return AsInvalidArgument(std::move(status));
  return ensemble;
}

}  // namespace gdaqd::server::models
