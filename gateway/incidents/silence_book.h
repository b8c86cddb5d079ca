// SilenceBook: the silences, as operators asked for them (or as the site's retained silences
// say, on a pod), filed by an exact matcher each so that an incident is tested against few of
// them. It reads silence and expire commands, keeps each silence as a document and, where this
// gateway owns the silences, on its retained P/silences/<id> (live, then an expired tombstone for
// keep_expired_s). What a silence's state does to the incident records is the desk's part
// (IncidentDesk::ApplySilence); the book remembers for which state that was last done.
//
// Threads: the store writer's (like the desk).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/incidents/desk_writes.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "twins/incident.h"
#include "twins/silence.h"

namespace dctwin {

class SilenceBook {
 public:
  struct Options {
    std::string prefix = "dctwin";
    double keep_expired_s = 86400;
    size_t max_silences = 10000;
    bool owns_silences = true;  // false on a pod: the site's silences are mirrored, none published
  };
  struct Entry {
    Silence silence;
    SilenceState applied = SilenceState::kPending;  // the state its effects were last applied for
  };

  SilenceBook(Options options, DeskWrites& writes);

  // Before the writer starts, after the records: which effects were applied is recorded in the
  // records themselves (silenced_by). `bad` counts unreadable rows.
  Status Restore(StateStore& store, const std::map<std::string, IncidentEvent>& records, double now, size_t* bad);

  // The active silences that mute `incident` now.
  std::vector<std::string> Muting(const IncidentEvent& incident, double now) const;

  // Commands. An error for the asker, or empty with *entry the silence made (or expired); its
  // effects are still to be applied.
  std::string Add(const std::string& payload, double now, Entry** entry);
  std::string Expire(const std::string& payload, double now, Entry** entry);
  // A pod: the site's retained silence `id` (payload), its tombstone or its clear. The entry whose
  // effects are to be applied again, or null.
  Entry* Mirror(const std::string& id, const std::string& payload, double now);
  // A decommissioned server's part of every maintenance that covers it ends.
  void Released(const std::string& server, const std::string& rack, double now);

  // Silences whose state is not the one their effects were applied for (they started or ended).
  std::vector<Entry*> Due(double now);
  // Expired silences are forgotten keep_expired_s after their end (their tombstone cleared).
  void Forget(double now);
  // Its document and retained topic say what it is now.
  void Save(const Silence& silence, double now);

  const Entry& at(const std::string& id) const { return silences_.at(id); }
  size_t active(double now) const;
  size_t size() const { return silences_.size(); }
  std::shared_ptr<const std::vector<Silence>> ActiveMaintenance(double now) const;
  // Whether a maintenance silence changed since the last call.
  bool TakeMaintenanceChanged() { return std::exchange(maintenance_changed_, false); }
  // {"silences": [...]} of at most `limit` after `cursor` (limit 0: all of them).
  std::string Json(double now, size_t limit, const std::string& cursor) const;

 private:
  const Options options_;
  DeskWrites& writes_;
  std::map<std::string, Entry> silences_;
  SilenceIndex index_;  // silences_ by an exact matcher each: what an incident is tested against
  uint64_t seq_ = 0;
  bool maintenance_changed_ = false;
};

}  // namespace dctwin
