#include "storage/twin_codec.h"

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <sstream>

#include "storage/bounded_binary_archive.h"
#include "twins/twin_serialization.h"

// Bump a class's version when its serialize() learns a new field, and read that field only
// when the stored version has it.
CEREAL_CLASS_VERSION(dctwin::ServerTwin, 5)  // 2: maintenance, flap history; 3: no published health; 4: anomaly baselines; 5: forecast and change watches
CEREAL_CLASS_VERSION(dctwin::ServerTwin::Watch, 1)
CEREAL_CLASS_VERSION(dctwin::TrendTracker, 1)
CEREAL_CLASS_VERSION(dctwin::ChangeTracker, 1)
CEREAL_CLASS_VERSION(dctwin::Figure, 1)
CEREAL_CLASS_VERSION(dctwin::ServerTwin::Baseline, 1)
CEREAL_CLASS_VERSION(dctwin::MetricBaseline, 1)
CEREAL_CLASS_VERSION(dctwin::ServerTwin::FlapTrack, 1)
CEREAL_CLASS_VERSION(dctwin::ServerTwin::ExactValue, 1)
CEREAL_CLASS_VERSION(dctwin::ServerTwin::Condition, 2)  // 2: rule identity
CEREAL_CLASS_VERSION(dctwin::MetricWindow, 3)  // 2: metric names packed in one string; 3: compressed rows
CEREAL_CLASS_VERSION(dctwin::RackTwin, 5)  // 2: members under maintenance; 3: no published health; 4: group incidents; 5: members in rows of their own
CEREAL_CLASS_VERSION(dctwin::GroupTwin, 1)
CEREAL_CLASS_VERSION(dctwin::GroupMember, 1)
CEREAL_CLASS_VERSION(dctwin::DatacenterTwin, 5)  // 2: offline pods; 3: racks claimed by two pods; 4: no published health; 5: racks in rows of their own
CEREAL_CLASS_VERSION(dctwin::Incident, 3)  // 2: runbook, flapping; 3: metric and figures
CEREAL_CLASS_VERSION(dctwin::IncidentRef, 1)
CEREAL_CLASS_VERSION(dctwin::RackStatus, 3)  // 2: the pod that owns the rack (site); 3: from its own topic
CEREAL_CLASS_VERSION(dctwin::RackMemberRow, 1)
CEREAL_CLASS_VERSION(dctwin::HealthUpdate, 2)  // 2: maintenance, since, worst, rack incidents

namespace dctwin {

template <class Archive>
void serialize(Archive& ar, RackMemberRow& v, std::uint32_t /*version*/) {
  ar(v.open, v.maintenance);
}

namespace {

template <class T>
std::string Encode(const T& twin) {
  std::ostringstream out(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(out);
    ar(const_cast<T&>(twin));  // cereal's serialize() is shared by save and load
  }
  return std::move(out).str();
}

template <class T>
Status Decode(std::string_view bytes, T* twin) {
  try {
    BoundedBinaryInputArchive ar(bytes);
    ar(*twin);
    if (ar.remaining() != 0) return Status::Corruption("trailing bytes after the twin state");
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("cannot decode twin state: ") + e.what());
  }
}

}  // namespace

std::string EncodeTwin(const ServerTwin& twin) { return Encode(twin); }
std::string EncodeTwin(const RackTwin& twin) { return Encode(twin); }
std::string EncodeTwin(const DatacenterTwin& twin) { return Encode(twin); }
std::string EncodeTwin(const GroupTwin& twin) { return Encode(twin); }
std::string EncodeRackStatus(const RackStatus& status) { return Encode(status); }
std::string EncodeRackMember(const RackMemberRow& row) { return Encode(row); }

Status DecodeTwin(std::string_view bytes, ServerTwin* twin) {
  Status s = Decode(bytes, twin);
  if (s.ok() && !twin->window().Consistent()) return Status::Corruption("window columns and names do not match");
  return s;
}
Status DecodeTwin(std::string_view bytes, RackTwin* twin) { return Decode(bytes, twin); }
Status DecodeTwin(std::string_view bytes, DatacenterTwin* twin) { return Decode(bytes, twin); }
Status DecodeTwin(std::string_view bytes, GroupTwin* twin) { return Decode(bytes, twin); }
Status DecodeRackStatus(std::string_view bytes, RackStatus* status) { return Decode(bytes, status); }
Status DecodeRackMember(std::string_view bytes, RackMemberRow* row) { return Decode(bytes, row); }

}  // namespace dctwin
