// StateStore: durable storage of twin state and of the alert outbox. Knows ids and bytes, nothing
// of MQTT, shards or twins. One Commit() is one atomic transaction.
//
// Implementations are not thread-safe: one writer thread owns the store.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/rollup_codec.h"
#include "storage/status.h"

namespace dctwin {

struct TwinKey {
  uint8_t kind = 0;  // the caller's own numbering (server, rack, datacenter)
  std::string id;
  bool operator==(const TwinKey&) const = default;
};

struct TwinRecord {
  TwinKey key;
  uint32_t version = 0;  // format version of `state`
  std::string state;
};

struct OutboxRecord {
  int64_t seq = 0;  // assigned by the store, increasing
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = false;
  // Not stored: monotonic seconds when the report behind this event reached the gateway (0:
  // unknown, or read back from the store). For the alert latency.
  double received = 0;
};

// A small keyed document of the operator-facing state (open incident records, silences,
// notifications owed to Alertmanager): the store keeps its bytes per (collection, id).
struct DocKey {
  std::string collection;
  std::string id;
};
struct DocRecord {
  DocKey key;
  std::string body;
};

// One entry of the history (incident events, silence changes, provisioning changes): appended in
// the transaction of the change itself. The facts it is filtered by are columns; `body` is the
// event's own JSON object.
struct HistoryRecord {
  int64_t seq = 0;  // assigned by the store, increasing, never reused
  double at = 0;    // when it was committed (the gateway's wall clock, never stepping back)
  std::string type;  // incident | silence | provisioning | control
  std::string level, subject, rack, kind, severity;
  std::string body;
};

// A stretch of time the availability report counts (P/query/report): an incident (opened to
// resolved), a maintenance silence (starts to ends), a server's time in a rack (commissioned to
// decommissioned or moved). Kept beside the history, pruned with it.
struct SpanRecord {
  std::string id;    // the incident's or silence's id; "c:<server>" while a server is in a rack
  std::string type;  // incident | maintenance | commissioned
  std::string level, subject, rack, kind, severity;
  double started_at = 0;
  double acked_at = 0;  // 0: not acknowledged
  double ended_at = 0;  // 0: still going
  std::string matchers;  // maintenance: the silence's matchers, as JSON
};
// One change to the spans, applied in order: a row written whole, or (close) the open span `id`
// ended at `ended_at` (it is kept under "<id>:<started_at>", so that a new one can open).
struct SpanChange {
  bool close = false;
  bool if_absent = false;  // an upsert that leaves an existing row alone
  SpanRecord row;
};

// Everything one transaction writes.
struct StoreBatch {
  std::vector<TwinRecord> upserts;
  std::vector<TwinKey> deletes;
  std::vector<OutboxRecord> outbox;  // appended; their seq is filled in by Commit
  std::vector<int64_t> acked;        // outbox rows to delete (the broker acknowledged them)
  std::vector<DocRecord> doc_upserts;
  std::vector<DocKey> doc_deletes;
  std::vector<HistoryRecord> history;  // appended; their seq is filled in by Commit
  std::vector<SpanChange> spans;
  std::vector<RollupRow> rollups;  // merged into a bucket's row when it has one
  bool empty() const {
    return upserts.empty() && deletes.empty() && outbox.empty() && acked.empty() && doc_upserts.empty() &&
           doc_deletes.empty() && history.empty() && spans.empty() && rollups.empty();
  }
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Commits the batch atomically; on success the outbox records carry their seq. On failure
  // nothing of the batch is applied, and the batch is left as it was, to be retried.
  virtual Status Commit(StoreBatch& batch) = 0;
  virtual Status LoadTwins(const std::function<void(TwinRecord&&)>& each) = 0;
  virtual Status LoadOutbox(const std::function<void(OutboxRecord&&)>& each) = 0;
  // Outbox rows with seq >= from, in order, at most `limit`.
  virtual Status LoadOutboxFrom(int64_t from, size_t limit, const std::function<void(OutboxRecord&&)>& each) = 0;
  virtual Status LoadDocs(const std::string& collection, const std::function<void(DocRecord&&)>& each) = 0;
  // Moves a row that cannot be decoded aside, with the reason, so the gateway can start.
  virtual Status Quarantine(const TwinRecord& record, const std::string& reason) = 0;
  virtual int64_t OutboxSize() const = 0;
  // The time of the newest history row (0: none).
  virtual double LastHistoryAt() const { return 0; }
};

}  // namespace dctwin
