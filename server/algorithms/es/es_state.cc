#include "server/algorithms/es/es_state.h"

#include <cstring>
#include <istream>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/algorithms/checkpoint_io.h"

namespace gdaqd::server::es {
namespace {

using checkpoint::ReadF64;
using checkpoint::ReadU64;
using checkpoint::WriteF64;
using checkpoint::WriteU64;

// Bounds what a corrupt count may make us allocate.
constexpr uint64_t kMaxLineages = 100'000;
constexpr uint64_t kMaxHistory = 100'000'000;
constexpr uint64_t kMaxParamFloats = uint64_t{1} << 32;

void WriteLineage(std::ostream& out, const Lineage& lineage) {
  WriteFloats(out, lineage.theta);
  WriteFloats(out, lineage.adam.m);
  WriteFloats(out, lineage.adam.v);
  WriteU64(out, static_cast<uint64_t>(lineage.adam.steps));
  WriteFloats(out, lineage.descriptor);
  WriteF64(out, lineage.reward);
}

absl::StatusOr<Lineage> ReadLineage(std::istream& in, int64_t num_params, int descriptor_dim) {
  Lineage lineage;
  GDAQD_ASSIGN_OR_RETURN(lineage.theta, ReadFloats(in, "lineage theta", num_params, num_params));
  GDAQD_ASSIGN_OR_RETURN(lineage.adam.m, ReadFloats(in, "Adam m", num_params, num_params));
  GDAQD_ASSIGN_OR_RETURN(lineage.adam.v, ReadFloats(in, "Adam v", num_params, num_params));
  GDAQD_ASSIGN_OR_RETURN(uint64_t steps, ReadU64(in, "Adam steps"));
  lineage.adam.steps = static_cast<int64_t>(steps);
  GDAQD_ASSIGN_OR_RETURN(lineage.descriptor,
                         ReadFloats(in, "lineage descriptor", descriptor_dim, descriptor_dim));
  GDAQD_ASSIGN_OR_RETURN(lineage.reward, ReadF64(in, "lineage reward"));
  return lineage;
}

void WritePending(std::ostream& out, const PendingBatch& p) {
  for (uint64_t value : {uint64_t{p.active}, uint64_t{p.initial}, static_cast<uint64_t>(p.count),
                         uint64_t{p.offspring_slot}, static_cast<uint64_t>(p.parent),
                         static_cast<uint64_t>(p.pairs), p.noise_seed, uint64_t{p.explore}}) {
    WriteU64(out, value);
  }
}

absl::Status ReadPending(std::istream& in, PendingBatch* p) {
  uint64_t v[8];
  for (uint64_t& value : v) {
    GDAQD_ASSIGN_OR_RETURN(value, ReadU64(in, "pending batch"));
  }
  p->active = v[0] != 0;
  p->initial = v[1] != 0;
  p->count = static_cast<int64_t>(v[2]);
  p->offspring_slot = v[3] != 0;
  p->parent = static_cast<int64_t>(v[4]);
  p->pairs = static_cast<int64_t>(v[5]);
  p->noise_seed = v[6];
  p->explore = v[7] != 0;
  return absl::OkStatus();
}

void WriteRecord(std::ostream& out, const EsGenerationRecord& r) {
  WriteU64(out, static_cast<uint64_t>(r.generation));
  WriteF64(out, r.offspring_reward);
  WriteF64(out, r.best_reward);
  WriteF64(out, r.reward_weight);
  WriteF64(out, r.mean_novelty);
  WriteU64(out, static_cast<uint64_t>(r.parent));
  WriteU64(out, uint64_t{r.explore});
  WriteU64(out, static_cast<uint64_t>(r.used_pairs));
}

absl::StatusOr<EsGenerationRecord> ReadRecord(std::istream& in) {
  EsGenerationRecord r;
  GDAQD_ASSIGN_OR_RETURN(uint64_t generation, ReadU64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(r.offspring_reward, ReadF64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(r.best_reward, ReadF64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(r.reward_weight, ReadF64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(r.mean_novelty, ReadF64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t parent, ReadU64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t explore, ReadU64(in, "history"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t used_pairs, ReadU64(in, "history"));
  r.generation = static_cast<int64_t>(generation);
  r.parent = static_cast<int64_t>(parent);
  r.explore = explore != 0;
  r.used_pairs = static_cast<int64_t>(used_pairs);
  return r;
}

absl::StatusOr<uint64_t> ReadCount(std::istream& in, const char* what, uint64_t max) {
  GDAQD_ASSIGN_OR_RETURN(uint64_t count, ReadU64(in, what));
  if (count > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint has ", count, " ", what, ", more than ", max));
  }
  return count;
}

}  // namespace

void WriteFloats(std::ostream& out, const std::vector<float>& values) {
  checkpoint::WriteBytes(out, absl::string_view(reinterpret_cast<const char*>(values.data()),
                                                values.size() * sizeof(float)));
}

absl::StatusOr<std::vector<float>> ReadFloats(std::istream& in, const char* what, int64_t row,
                                              uint64_t max_floats) {
  GDAQD_ASSIGN_OR_RETURN(std::string bytes,
                         checkpoint::ReadBytes(in, what, max_floats * sizeof(float)));
  const size_t floats = bytes.size() / sizeof(float);
  if (bytes.size() % sizeof(float) != 0 || (row > 0 && floats % static_cast<size_t>(row) != 0)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint's ", what, " has ", bytes.size(),
                                                   " bytes, not rows of ", row, " floats"));
  }
  std::vector<float> values(floats);
  if (!bytes.empty()) std::memcpy(values.data(), bytes.data(), bytes.size());
  return values;
}

void WriteEsState(std::ostream& out, const EsState& state) {
  WriteU64(out, state.es_generations);
  WriteU64(out, uint64_t{state.initialised});
  WriteU64(out, state.lineages.size());
  for (const Lineage& lineage : state.lineages) WriteLineage(out, lineage);
  WriteFloats(out, state.offspring);
  WriteU64(out, static_cast<uint64_t>(state.offspring_owner));
  WriteF64(out, state.best_reward);
  WriteU64(out, state.recent.size());
  for (const RecentElite& elite : state.recent) {
    WriteFloats(out, elite.theta);
    WriteF64(out, elite.reward);
  }
  WritePending(out, state.pending);
  WriteU64(out, state.history.size());
  for (const EsGenerationRecord& record : state.history) WriteRecord(out, record);
}

absl::Status ReadEsState(std::istream& in, int64_t num_params, int descriptor_dim, EsState* state) {
  EsState s;
  GDAQD_ASSIGN_OR_RETURN(s.es_generations, ReadU64(in, "ES generations"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t initialised, ReadU64(in, "initialised"));
  s.initialised = initialised != 0;
  GDAQD_ASSIGN_OR_RETURN(uint64_t lineages, ReadCount(in, "lineages", kMaxLineages));
  for (uint64_t i = 0; i < lineages; ++i) {
    GDAQD_ASSIGN_OR_RETURN(Lineage lineage, ReadLineage(in, num_params, descriptor_dim));
    s.lineages.push_back(std::move(lineage));
  }
  GDAQD_ASSIGN_OR_RETURN(s.offspring, ReadFloats(in, "offspring", num_params, kMaxParamFloats));
  GDAQD_ASSIGN_OR_RETURN(uint64_t owner, ReadU64(in, "offspring owner"));
  s.offspring_owner = static_cast<int64_t>(owner);
  GDAQD_ASSIGN_OR_RETURN(s.best_reward, ReadF64(in, "best reward"));
  GDAQD_ASSIGN_OR_RETURN(uint64_t recent, ReadCount(in, "recent elites", kMaxLineages));
  for (uint64_t i = 0; i < recent; ++i) {
    RecentElite elite;
    GDAQD_ASSIGN_OR_RETURN(elite.theta, ReadFloats(in, "recent elite", num_params, num_params));
    GDAQD_ASSIGN_OR_RETURN(elite.reward, ReadF64(in, "recent elite reward"));
    s.recent.push_back(std::move(elite));
  }
  GDAQD_RETURN_IF_ERROR(ReadPending(in, &s.pending));
  GDAQD_ASSIGN_OR_RETURN(uint64_t records, ReadCount(in, "history records", kMaxHistory));
  for (uint64_t i = 0; i < records; ++i) {
    GDAQD_ASSIGN_OR_RETURN(EsGenerationRecord record, ReadRecord(in));
    s.history.push_back(record);
  }
  *state = std::move(s);
  return absl::OkStatus();
}

}  // namespace gdaqd::server::es
