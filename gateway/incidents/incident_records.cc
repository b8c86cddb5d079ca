#include "gateway/incidents/incident_records.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "gateway/incidents/incident_json.h"
#include "gateway/incidents/request_fields.h"

namespace dctwin {

namespace {
constexpr const char* kRecords = "incident";
constexpr const char* kDeferred = "deferred";
}  // namespace

Status IncidentRecords::Restore(StateStore& store, size_t* bad) {
  Status s = store.LoadDocs(kRecords, [&](DocRecord&& d) {
    IncidentEvent r;
    std::string error;
    if (!ParseIncidentRecord(d.body, &r, &error)) {
      ++*bad;
      spdlog::error("incident record {} cannot be read ({}); dropped", d.key.id, error);
      writes_.DeleteDoc(kRecords, d.key.id);
      return;
    }
    topic_ids_[RecordTopic(r)].push_back(r.id);
    open_.emplace(r.id, std::move(r));
  });
  if (!s.ok()) return s;
  return store.LoadDocs(kDeferred, [&](DocRecord&& d) {
    if (open_.count(d.key.id) > 0) {
      deferred_.insert(d.key.id);
    } else {
      writes_.DeleteDoc(kDeferred, d.key.id);
    }
  });
}

IncidentEvent* IncidentRecords::Find(const std::string& id) {
  auto it = open_.find(id);
  return it == open_.end() ? nullptr : &it->second;
}

std::string IncidentRecords::RecordTopic(const IncidentEvent& e) const {
  return prefix_ + "/incidents/" + std::string(LevelName(e.level)) + "/" + e.subject + "/" + e.kind;
}

std::string IncidentRecords::AlertTopic(const IncidentEvent& e) const {
  return prefix_ + "/alerts/" + std::string(LevelName(e.level)) + "/" + e.subject;
}

void IncidentRecords::Save(const IncidentEvent& record) {
  auto json = std::make_shared<const std::string>(IncidentRecordJson(record));
  writes_.PutDoc(kRecords, record.id, *json);
  if (deferred_.count(record.id) == 0) writes_.Outbox(RecordTopic(record), *json, true);
  rendered_[record.id] = std::move(json);
}

void IncidentRecords::PublishDeferred() {
  if (outbox_full_ || deferred_.empty()) return;
  size_t n = 0;
  for (const std::string& id : deferred_) {
    writes_.DeleteDoc(kDeferred, id);
    auto it = open_.find(id);
    if (it == open_.end()) continue;
    IncidentEvent e = it->second;
    e.state = IncidentState::kOpen;
    e.at = e.opened_at;
    writes_.Outbox(AlertTopic(e), IncidentEventJson(e), false);
    if (!e.acked_by.empty()) {  // acknowledged while it was held back: in that order
      e.state = IncidentState::kAcknowledged;
      e.at = e.acked_at;
      writes_.Outbox(AlertTopic(e), IncidentEventJson(e), false);
    }
    const std::string topic = RecordTopic(e);
    auto ids = topic_ids_.find(topic);
    if (ids != topic_ids_.end() && !ids->second.empty() && ids->second.back() == id) {
      writes_.Outbox(topic, IncidentRecordJson(it->second), true);
    }
    ++n;
  }
  deferred_.clear();
  spdlog::warn("outbox has room again: {} incident open(s) held back are published now", n);
}

void IncidentRecords::Announce(const IncidentEvent& e, double received) {
  if (e.state == IncidentState::kOpen && outbox_full_) {
    // The broker has been away long: what is owed to it comes first.
    if (deferred_.insert(e.id).second) {
      writes_.PutDoc(kDeferred, e.id, std::string());
      if (opens_deferred_.fetch_add(1, std::memory_order_relaxed) == 0) {
        spdlog::error("outbox full: new incident opens are held back until the broker has taken the backlog");
      }
    }
  } else if (e.state == IncidentState::kResolved && deferred_.erase(e.id) > 0) {
    writes_.DeleteDoc(kDeferred, e.id);  // never announced: neither is its end
    spdlog::warn("incident {} opened and resolved while the outbox was full: not announced", e.id);
  } else {
    writes_.Outbox(AlertTopic(e), IncidentEventJson(e), false, received);
  }
}

void IncidentRecords::Open(const IncidentEvent& e) {
  open_[e.id] = e;
  std::vector<std::string>& ids = topic_ids_[RecordTopic(e)];
  ids.erase(std::remove(ids.begin(), ids.end(), e.id), ids.end());
  ids.push_back(e.id);
  Save(e);
}

void IncidentRecords::Resolve(const IncidentEvent& e) {
  open_.erase(e.id);
  rendered_.erase(e.id);
  writes_.DeleteDoc(kRecords, e.id);
  const std::string topic = RecordTopic(e);
  std::vector<std::string>& ids = topic_ids_[topic];
  ids.erase(std::remove(ids.begin(), ids.end(), e.id), ids.end());
  // Another open incident with the same record topic (anomalies of two metrics) takes it over.
  if (ids.empty()) {
    writes_.Outbox(topic, std::string(), true);
    topic_ids_.erase(topic);
  } else {
    writes_.Outbox(topic, IncidentRecordJson(open_.at(ids.back())), true);
  }
}

IncidentEvent* IncidentRecords::Update(const IncidentEvent& e) {
  IncidentEvent* record = Find(e.id);
  if (record == nullptr) return nullptr;
  record->caused_by = e.caused_by;
  record->rack = e.rack;
  // A forecast whose crossing moved: the record says the new one, counted from its time.
  if (!e.figures.empty()) {
    record->summary = e.summary;
    record->figures = e.figures;
    record->at = e.at;
  }
  return record;
}

void IncidentRecords::Acknowledged(const IncidentEvent& record, double now) {
  IncidentEvent event = record;
  event.state = IncidentState::kAcknowledged;
  event.at = now;
  // An open held back is announced first; its acknowledgement follows it then (PublishDeferred).
  if (deferred_.count(record.id) == 0) writes_.Outbox(AlertTopic(event), IncidentEventJson(event), false);
  Save(record);
}

RenderJob IncidentRecords::Page(const std::vector<IncidentEvent>& extra, size_t limit,
                                const std::string& cursor) const {
  RenderJob page;
  page.head = "{\"incidents\":[";
  // The gateway's own (a handful) come with the first page; the records follow by id.
  if (cursor.empty()) {
    for (const IncidentEvent& record : extra) page.parts.push_back(std::make_shared<const std::string>(IncidentRecordJson(record)));
  }
  size_t n = 0;
  std::string next;
  for (auto it = cursor.empty() ? open_.begin() : open_.upper_bound(cursor); it != open_.end(); ++it) {
    if (limit > 0 && n == limit) {
      next = std::prev(it)->first;
      break;
    }
    std::shared_ptr<const std::string>& json = rendered_[it->first];
    if (!json) json = std::make_shared<const std::string>(IncidentRecordJson(it->second));
    page.parts.push_back(json);
    ++n;
  }
  page.tail = "]";
  if (limit > 0) page.tail += NextCursorField(next);
  page.tail += "}";
  return page;
}

}  // namespace dctwin
