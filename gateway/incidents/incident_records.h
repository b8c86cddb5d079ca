// IncidentRecords: the record of every open incident (P/incidents/<level>/<subject>/<kind>,
// retained; a document each), and the events on P/alerts/... that announce them. Two incidents
// may share a record topic (anomalies of two metrics): the newest open one holds it. While the
// outbox is full (the broker has been away long) new opens are held back (documents "deferred")
// and announced, with their own times, once it has room; one that opened and resolved meanwhile
// is never announced at all, and the resolve of an announced open always goes out.
//
// Threads: the store writer's (like the desk), apart from the counter.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gateway/incidents/answer_renderer.h"
#include "gateway/incidents/desk_writes.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "twins/incident.h"

namespace dctwin {

class IncidentRecords {
 public:
  IncidentRecords(std::string prefix, DeskWrites& writes) : prefix_(std::move(prefix)), writes_(writes) {}

  // Before the writer starts; `bad` counts unreadable rows.
  Status Restore(StateStore& store, size_t* bad);

  const std::map<std::string, IncidentEvent>& open() const { return open_; }
  IncidentEvent* Find(const std::string& id);

  // Before each round: whether the outbox is full (see above).
  void SetOutboxFull(bool full) { outbox_full_ = full; }
  // Opens held back go out once the outbox has room.
  void PublishDeferred();

  // The event on P/alerts/..., unless it is an open held back (or the resolve of one).
  void Announce(const IncidentEvent& event, double received);
  // An open: the record now holds it (and its record topic).
  void Open(const IncidentEvent& event);
  // A resolve: the record goes; another open incident of the same topic takes it over.
  void Resolve(const IncidentEvent& event);
  // What an open record says changed (its cause, its rack, a forecast's crossing); null when it
  // is not open here. The caller saves it (Save) once it has set what mutes it.
  IncidentEvent* Update(const IncidentEvent& event);
  // An acknowledgement of an open record: its event (announced after the open, if that is held
  // back) and its record.
  void Acknowledged(const IncidentEvent& record, double now);
  // The record's document and retained topic say what it is now.
  void Save(const IncidentEvent& record);

  // {"incidents": [...]}: `extra` first (on the first page), then the records by id, at most
  // `limit` after `cursor` (limit 0: all of them). Page() only collects each record's JSON as it
  // was rendered when the record last changed (O(page) shared pointers); Join() builds the answer.
  RenderJob Page(const std::vector<IncidentEvent>& extra, size_t limit, const std::string& cursor) const;
  std::string Json(const std::vector<IncidentEvent>& extra, size_t limit, const std::string& cursor) const {
    return Page(extra, limit, cursor).Join();
  }

  uint64_t opens_deferred() const { return opens_deferred_.load(std::memory_order_relaxed); }

 private:
  std::string RecordTopic(const IncidentEvent& e) const;
  std::string AlertTopic(const IncidentEvent& e) const;

  const std::string prefix_;
  DeskWrites& writes_;
  std::map<std::string, IncidentEvent> open_;                    // open incident records by id
  std::map<std::string, std::vector<std::string>> topic_ids_;    // record topic -> open ids, newest last
  // Each open record's JSON as its last Save() rendered it (restored ones: rendered when first asked).
  mutable std::map<std::string, std::shared_ptr<const std::string>> rendered_;
  bool outbox_full_ = false;
  std::set<std::string> deferred_;  // opens held back
  std::atomic<uint64_t> opens_deferred_{0};
};

}  // namespace dctwin
