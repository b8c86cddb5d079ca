// How the twins' durable state is laid out for serialization. Templates over any archive with
// the cereal calling convention; only storage/twin_codec.cc instantiates them, so the domain does
// not depend on cereal. Every function takes the class version that cereal stores with the data:
// a field added later is read only when `version` says the data has it, so old rows still load.
// Threads: as the twin's own (its owner, one at a time).
#pragma once

#include <cstdint>
#include <stdexcept>

#include "twins/datacenter_twin.h"
#include "twins/group_twin.h"
#include "twins/incident.h"
#include "twins/messages.h"
#include "twins/metric_window.h"
#include "twins/rack_twin.h"
#include "twins/server_twin.h"

namespace dctwin {

// A severity read from storage is one this code knows (damaged state is refused, not used as an
// index).
template <class Archive>
void CheckSeverity(Severity s) {
  if constexpr (Archive::is_loading::value) {
    if (s != Severity::kWarning && s != Severity::kCritical) throw std::runtime_error("unknown severity");
  }
}

template <class Archive>
void serialize(Archive& ar, Figure& v, std::uint32_t /*version*/) {
  ar(v.name, v.value);
}

template <class Archive>
void serialize(Archive& ar, Incident& v, std::uint32_t version) {
  ar(v.id, v.kind, v.severity, v.opened_at, v.summary, v.caused_by);
  CheckSeverity<Archive>(v.severity);
  if (version >= 2) ar(v.runbook, v.flapping, v.stable_since);
  if (version >= 3) ar(v.metric, v.figures, v.figures_at);
}

template <class Archive>
void serialize(Archive& ar, IncidentRef& v, std::uint32_t /*version*/) {
  ar(v.kind, v.id, v.severity, v.opened_at);
  CheckSeverity<Archive>(v.severity);
}

template <class Archive>
void serialize(Archive& ar, RackStatus& v, std::uint32_t version) {
  ar(v.rack, v.exists, v.incidents, v.kinds, v.since, v.worst);
  CheckSeverity<Archive>(v.worst);
  if (version >= 2) ar(v.owner);
  if (version >= 3) ar(v.from_owner_topic);
}

template <class Archive>
void serialize(Archive& ar, HealthUpdate& v, std::uint32_t version) {
  ar(v.level, v.subject, v.cleared, v.status, v.open, v.updated_at, v.rack, v.by_kind, v.members, v.unhealthy);
  if (version >= 2) ar(v.maintenance, v.since, v.worst, v.incidents);
}

template <class Archive>
void MetricWindow::serialize(Archive& ar, std::uint32_t version) {
  if (version >= 3) {
    ar(names_, blocks_, columns_, newest_ts_, rows_, skip_);
    // Blocks that do not decode leave the window inconsistent, and the decoder refuses the state.
    if constexpr (Archive::is_loading::value) FindLastBlock();
    return;
  }
  // Versions 1 and 2 kept the rows as floats (only ever read: saving writes version 3).
  if constexpr (Archive::is_loading::value) {
    if (version >= 2) {
      ar(names_);
    } else {
      // Version 1 kept the names as a vector of strings.
      std::vector<std::string> names;
      ar(names);
      names_.clear();
      for (const std::string& n : names) {
        names_ += static_cast<char>(n.size());
        names_ += n;
      }
    }
    std::vector<float> data;
    size_t columns = 0;
    double base_ts = 0;
    ar(data, columns, base_ts, newest_ts_);
    FromFloatRows(data, columns, base_ts);
  }
}

template <class Archive>
void ServerTwin::Condition::serialize(Archive& ar, std::uint32_t version) {
  ar(rule, metric, true_count, clear_count, first_true_ts, last_value, detail, firing);
  if (version >= 2) ar(rule_id);
}

template <class Archive>
void ServerTwin::ExactValue::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(metric, ts, value);
}

template <class Archive>
void MetricBaseline::serialize(Archive& ar, std::uint32_t /*version*/) {
  // The hour being watched and its day are stored as they always were, though derived from
  // last_ts_ in memory: what is read of them is not used.
  int8_t hour = static_cast<int8_t>(WatchedHour());
  uint32_t day = WatchedDay();
  ar(robust_.level, robust_.deviation, peak_, run_peak_, excursion_start_, excursion_sum_, excursion_n_, prior_level_,
     last_ts_, samples_, recent_, hour, day, hour_lo_, hour_hi_, day_lo_, day_hi_, learned_);
}

template <class Archive>
void TrendTracker::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(width_, base_, bucket_, sum_, n_, means_);
}

template <class Archive>
void ChangeTracker::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(robust_.level, robust_.deviation, recent_, samples_, last_ts_, rise_, fall_, changed_, up_change_, back_, before_, changed_at_,
     after_sum_, after_n_);
}

template <class Archive>
void ServerTwin::Watch::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(metric, rule_id, rule, state);
}

template <class Archive>
void ServerTwin::Baseline::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(metric, baseline);
}

template <class Archive>
void ServerTwin::FlapTrack::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(key, opened);
}

// Versions before ServerTwin 3, RackTwin 3 and DatacenterTwin 4 also stored what the twin last
// published as health; it is read and dropped (the outbound queue owns retained state now).
struct FormerPublishedHealth {
  HealthStatus status = HealthStatus::kUnknown;
  std::vector<std::string> open;
  std::string rack;
  bool published = false;
  bool maintenance = false;
  HealthUpdate health;
};

template <class Archive>
void ServerTwin::serialize(Archive& ar, std::uint32_t version) {
  ar(commissioned_, heard_, rack_, last_heard_, seq_, window_, conditions_, open_, open_keys_, rack_incidents_);
  FormerPublishedHealth former;
  if (version < 3) ar(former.status, former.open, former.rack, former.published);
  if (version == 2) ar(maintenance_, flaps_, former.maintenance, refused_in_a_row_, next_stale_check_, exact_);
  if (version >= 3) ar(maintenance_, flaps_, refused_in_a_row_, next_stale_check_, exact_);
  // Before 4 the anomaly check had no state of its own: the baselines start afresh.
  if (version >= 4) ar(baselines_);
  // Before 5 there were no forecast or change rules.
  if (version >= 5) ar(watches_);
}

template <class Archive>
void RackTwin::serialize(Archive& ar, std::uint32_t version) {
  // From version 5 each member is a row of its own (TwinKind::kRackMember), with its maintenance.
  if (version < 5) ar(members_);
  ar(open_, dc_incidents_, seq_, status_sent_, sent_status_);
  FormerPublishedHealth former;
  if (version < 3) ar(former.published, former.health);
  if (version >= 2 && version < 5) ar(maintenance_);
  if (version >= 4) ar(group_incidents_);
  if constexpr (Archive::is_loading::value) {
    if (version < 5) legacy_members_ = true;
    Retally();
  }
}

template <class Archive>
void GroupTwin::serialize(Archive& ar, std::uint32_t /*version*/) {
  ar(racks_, members_, open_, seq_);
}

template <class Archive>
void serialize(Archive& ar, GroupMember& v, std::uint32_t /*version*/) {
  ar(v.rack, v.exists, v.incidents, v.by_kind, v.worst);
}

template <class Archive>
void DatacenterTwin::serialize(Archive& ar, std::uint32_t version) {
  // From version 5 each rack's status is a row of its own (TwinKind::kDatacenterRack).
  if (version < 5) {
    ar(racks_);
    if constexpr (Archive::is_loading::value) {
      legacy_racks_ = true;
      Recount(topology_);
    }
  }
  ar(open_, seq_);
  FormerPublishedHealth former;
  if (version < 4) ar(former.published, former.health);
  if (version >= 2) ar(offline_pods_);
  if (version >= 3) ar(conflicts_);
}

}  // namespace dctwin
