#include "client/experiment_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace gdaqd::client {
namespace {

constexpr absl::Duration kUnaryDeadline = absl::Seconds(30);
constexpr absl::Duration kExportDeadline = absl::Minutes(10);

bool IsFinal(gdaqd::v1::ExperimentState state) {
  return state == gdaqd::v1::SUCCEEDED || state == gdaqd::v1::FAILED ||
         state == gdaqd::v1::CANCELLED;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ExperimentClient>> ExperimentClient::Connect(
    const std::string& address, absl::Duration connect_timeout, common::ClientSecurity security) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(common::kMaxGrpcMessageBytes);
  args.SetMaxSendMessageSize(common::kMaxGrpcMessageBytes);
  security.ApplyTo(&args);
  auto channel = grpc::CreateCustomChannel(address, security.channel_credentials, args);
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + connect_timeout))) {
    return absl::UnavailableError(absl::StrCat("cannot reach the coordinator at ", address,
                                               " within ", absl::FormatDuration(connect_timeout)));
  }
  return std::unique_ptr<ExperimentClient>(
      new ExperimentClient(address, std::move(channel), std::move(security)));
}

ExperimentClient::ExperimentClient(std::string address, std::shared_ptr<grpc::Channel> channel,
                                   common::ClientSecurity security)
    : address_(std::move(address)),
      channel_(std::move(channel)),
      stub_(gdaqd::v1::ExperimentService::NewStub(channel_)),
      security_(std::move(security)) {}

void ExperimentClient::Prepare(grpc::ClientContext* context, absl::Duration timeout) const {
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  security_.Authorize(context);
}

absl::StatusOr<std::string> ExperimentClient::Submit(const gdaqd::v1::ExperimentConfig& config) {
  grpc::ClientContext context;
  Prepare(&context, kUnaryDeadline);
  gdaqd::v1::SubmitExperimentRequest request;
  *request.mutable_config() = config;
  gdaqd::v1::SubmitExperimentResponse response;
  absl::Status status =
      common::FromGrpcStatus(stub_->SubmitExperiment(&context, request, &response));
  if (!status.ok()) return status;
  return response.id();
}

absl::StatusOr<gdaqd::v1::ExperimentStatus> ExperimentClient::Get(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context, kUnaryDeadline);
  gdaqd::v1::GetExperimentRequest request;
  request.set_id(id);
  gdaqd::v1::ExperimentStatus response;
  absl::Status status = common::FromGrpcStatus(stub_->GetExperiment(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<std::vector<gdaqd::v1::ExperimentStatus>> ExperimentClient::List() {
  std::vector<gdaqd::v1::ExperimentStatus> out;
  gdaqd::v1::ListExperimentsRequest request;
  do {
    grpc::ClientContext context;
    Prepare(&context, kUnaryDeadline);
    gdaqd::v1::ListExperimentsResponse response;
    absl::Status status =
        common::FromGrpcStatus(stub_->ListExperiments(&context, request, &response));
    if (!status.ok()) return status;
    out.insert(out.end(), response.experiments().begin(), response.experiments().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return out;
}

absl::Status ExperimentClient::Delete(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context, kUnaryDeadline);
  gdaqd::v1::DeleteExperimentRequest request;
  request.set_id(id);
  gdaqd::v1::DeleteExperimentResponse response;
  return common::FromGrpcStatus(stub_->DeleteExperiment(&context, request, &response));
}

absl::StatusOr<gdaqd::v1::ExperimentStatus> ExperimentClient::Cancel(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context, kUnaryDeadline);
  gdaqd::v1::CancelExperimentRequest request;
  request.set_id(id);
  gdaqd::v1::CancelExperimentResponse response;
  absl::Status status =
      common::FromGrpcStatus(stub_->CancelExperiment(&context, request, &response));
  if (!status.ok()) return status;
  return response.status();
}

absl::StatusOr<gdaqd::v1::ExperimentStatus> ExperimentClient::Watch(
    const std::string& id,
    const std::function<void(const gdaqd::v1::ExperimentStatus&)>& on_status) {
  grpc::ClientContext context;
  Prepare(&context, absl::InfiniteDuration());
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_context_ = &context;
  }
  gdaqd::v1::WatchExperimentRequest request;
  request.set_id(id);
  std::unique_ptr<grpc::ClientReader<gdaqd::v1::ExperimentStatus>> reader =
      stub_->WatchExperiment(&context, request);
  gdaqd::v1::ExperimentStatus status, last;
  bool any = false;
  while (reader->Read(&status)) {
    on_status(status);
    last = status;
    any = true;
  }
  absl::Status finish = common::FromGrpcStatus(reader->Finish());
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watch_context_ = nullptr;
  }
  if (!finish.ok()) return finish;
  if (!any || !IsFinal(last.state())) {
    return absl::UnavailableError("watch stream ended before the experiment finished");
  }
  return last;
}

void ExperimentClient::TryCancelWatch() {
  std::lock_guard<std::mutex> lock(watch_mu_);
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

absl::StatusOr<ExportedArchive> ExperimentClient::Export(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context, kExportDeadline);
  gdaqd::v1::ExportArchiveRequest request;
  request.set_id(id);
  std::unique_ptr<grpc::ClientReader<gdaqd::v1::ExportArchiveResponse>> reader =
      stub_->ExportArchive(&context, request);
  ExportedArchive archive;
  gdaqd::v1::ExportArchiveResponse message;
  bool have_header = false;
  while (reader->Read(&message)) {
    if (message.has_header()) {
      archive.header = std::move(*message.mutable_header());
      have_header = true;
    } else if (message.has_history()) {
      // Gathered into the header, where the results folder reads it.
      for (auto& row : *message.mutable_history()->mutable_rows()) {
        *archive.header.add_history() = std::move(row);
      }
    } else if (message.has_elite()) {
      archive.elites.push_back(std::move(*message.mutable_elite()));
    }
  }
  absl::Status finish = common::FromGrpcStatus(reader->Finish());
  if (!finish.ok()) return finish;
  if (!have_header) return absl::InternalError("export stream had no header");
  if (static_cast<int64_t>(archive.elites.size()) != archive.header.num_elites()) {
    return absl::InternalError(absl::StrCat("export announced ", archive.header.num_elites(),
                                            " elites and sent ", archive.elites.size()));
  }
  return archive;
}

}  // namespace gdaqd::client
