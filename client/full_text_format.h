// Text format with every field written, zeros included: the `config.textproto` of a results
// folder says `seed: 0` instead of leaving the reader to know proto3's defaults.
#ifndef GDAQD_CLIENT_FULL_TEXT_FORMAT_H_
#define GDAQD_CLIENT_FULL_TEXT_FORMAT_H_

#include <string>

#include "google/protobuf/message.h"

namespace gdaqd::client {

// Prints `message` as protobuf text format, writing every singular scalar and enum field of
// every message it prints even when it holds the default (0, false, "", the 0 enum value).
// Fields whose presence is part of the value are printed only when set, so that the text parses
// back to a message equal to `message` (MessageDifferencer::Equals): sub-messages, members of
// a oneof and proto3 `optional` fields. Repeated fields print their elements (none if empty).
// Thread-safe (no shared state).
std::string PrintWithDefaults(const google::protobuf::Message& message);

}  // namespace gdaqd::client

#endif  // GDAQD_CLIENT_FULL_TEXT_FORMAT_H_
