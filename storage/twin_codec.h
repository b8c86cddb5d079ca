// The binary encoding of twin state (cereal, binary archive, versioned per class). Encode never
// fails; Decode reports a row it cannot read as Corruption instead of throwing.
//
// Threads: plain functions; called by whichever thread owns the twin (its shard, or main at restore).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/status.h"
#include "twins/datacenter_twin.h"
#include "twins/group_twin.h"
#include "twins/rack_twin.h"
#include "twins/server_twin.h"

namespace dctwin {

// The `kind` column of the twins table.
// kDatacenterRack: one rack's status as the datacenter twin holds it, keyed by the rack's id (it
// belongs to the datacenter twin and is restored into it).
// kRackMember: one member of a rack (its open incidents, its maintenance), keyed "<rack>/<server>"
// (ids have no '/'); it belongs to the rack twin and is restored into it.
enum class TwinKind : uint8_t { kServer = 1, kRack = 2, kDatacenter = 3, kGroup = 4, kDatacenterRack = 5, kRackMember = 6 };

// The rack twin's row of one member.
struct RackMemberRow {
  std::vector<IncidentRef> open;
  bool maintenance = false;
};

inline uint8_t KindOf(Level level) {
  switch (level) {
    case Level::kServer: return static_cast<uint8_t>(TwinKind::kServer);
    case Level::kRack: return static_cast<uint8_t>(TwinKind::kRack);
    case Level::kGroup: return static_cast<uint8_t>(TwinKind::kGroup);
    case Level::kDatacenter:
    case Level::kGateway: break;
  }
  return static_cast<uint8_t>(TwinKind::kDatacenter);
}
inline Level LevelOfKind(uint8_t kind) {
  switch (static_cast<TwinKind>(kind)) {
    case TwinKind::kRack:
    case TwinKind::kRackMember: return Level::kRack;
    case TwinKind::kDatacenter:
    case TwinKind::kDatacenterRack: return Level::kDatacenter;
    case TwinKind::kGroup: return Level::kGroup;
    case TwinKind::kServer: break;
  }
  return Level::kServer;
}

// Format of the whole row; cereal's per-class versions live inside the bytes. A row with a
// higher format than this build knows is not read (it is quarantined).
constexpr uint32_t kTwinFormat = 1;

std::string EncodeTwin(const ServerTwin& twin);
std::string EncodeTwin(const RackTwin& twin);
std::string EncodeTwin(const DatacenterTwin& twin);
std::string EncodeTwin(const GroupTwin& twin);
std::string EncodeRackStatus(const RackStatus& status);
std::string EncodeRackMember(const RackMemberRow& row);

Status DecodeTwin(std::string_view bytes, ServerTwin* twin);
Status DecodeTwin(std::string_view bytes, RackTwin* twin);
Status DecodeTwin(std::string_view bytes, DatacenterTwin* twin);
Status DecodeTwin(std::string_view bytes, GroupTwin* twin);
Status DecodeRackStatus(std::string_view bytes, RackStatus* status);
Status DecodeRackMember(std::string_view bytes, RackMemberRow* row);

}  // namespace dctwin
