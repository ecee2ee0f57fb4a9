#include "client/full_text_format.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"

namespace gdaqd::client {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// True if the field's presence carries meaning, so printing it unset would change the value.
bool HasPresence(const FieldDescriptor& field) {
  return field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ||
         field.containing_oneof() != nullptr || field.has_presence();
}

void PrintMessage(const google::protobuf::TextFormat::Printer& printer, const Message& message,
                  int depth, std::string* out);

void PrintValue(const google::protobuf::TextFormat::Printer& printer, const Message& message,
                const FieldDescriptor& field, int index, int depth, std::string* out) {
  const std::string indent(2 * depth, ' ');
  const Reflection& reflection = *message.GetReflection();
  if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    const Message& child = index < 0 ? reflection.GetMessage(message, &field)
                                     : reflection.GetRepeatedMessage(message, &field, index);
    absl::StrAppend(out, indent, field.name(), " {\n");
    PrintMessage(printer, child, depth + 1, out);
    absl::StrAppend(out, indent, "}\n");
    return;
  }
  std::string value;
  printer.PrintFieldValueToString(message, &field, index, &value);
  absl::StrAppend(out, indent, field.name(), ": ", value, "\n");
}

void PrintMessage(const google::protobuf::TextFormat::Printer& printer, const Message& message,
                  int depth, std::string* out) {
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  const Reflection& reflection = *message.GetReflection();
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (field.is_repeated()) {
      const int size = reflection.FieldSize(message, &field);
      for (int j = 0; j < size; ++j) PrintValue(printer, message, field, j, depth, out);
    } else if (!HasPresence(field) || reflection.HasField(message, &field)) {
      PrintValue(printer, message, field, -1, depth, out);
    }
  }
}

}  // namespace

std::string PrintWithDefaults(const Message& message) {
  google::protobuf::TextFormat::Printer printer;
  std::string out;
  PrintMessage(printer, message, 0, &out);
  return out;
}

}  // namespace gdaqd::client
