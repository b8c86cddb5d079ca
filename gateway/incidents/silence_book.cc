#include "gateway/incidents/silence_book.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "gateway/incidents/incident_json.h"
#include "gateway/incidents/request_fields.h"

namespace dctwin {

namespace {

constexpr const char* kSilences = "silence";

std::string Hex(uint64_t v, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 0xf];
  return s;
}

}  // namespace

SilenceBook::SilenceBook(Options options, DeskWrites& writes) : options_(std::move(options)), writes_(writes) {
  std::random_device rd;
  seq_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

Status SilenceBook::Restore(StateStore& store, const std::map<std::string, IncidentEvent>& records, double now,
                            size_t* bad) {
  return store.LoadDocs(kSilences, [&](DocRecord&& d) {
    Silence silence;
    std::string error;
    if (!ParseSilenceDoc(d.body, &silence, &error)) {
      ++*bad;
      spdlog::error("silence {} cannot be read ({}); dropped", d.key.id, error);
      writes_.DeleteDoc(kSilences, d.key.id);
      return;
    }
    Entry entry{std::move(silence), SilenceState::kPending};
    // The next poll brings the records in line with the clock.
    bool muting = false;
    for (const auto& [id, r] : records) {
      muting = muting || std::find(r.silenced_by.begin(), r.silenced_by.end(), entry.silence.id) != r.silenced_by.end();
    }
    entry.applied = muting ? SilenceState::kActive
                           : (entry.silence.StateAt(now) == SilenceState::kExpired ? SilenceState::kExpired
                                                                                   : SilenceState::kPending);
    index_.Add(entry.silence);
    silences_.emplace(entry.silence.id, std::move(entry));
  });
}

std::vector<std::string> SilenceBook::Muting(const IncidentEvent& incident, double now) const {
  std::vector<std::string> ids;
  const IncidentFacts facts = FactsOf(incident);
  for (std::string& id : index_.Candidates(facts)) {
    const Silence& s = silences_.at(id).silence;
    if (s.StateAt(now) == SilenceState::kActive && s.Matches(facts)) ids.push_back(std::move(id));
  }
  return ids;
}

std::string SilenceBook::Add(const std::string& payload, double now, Entry** added) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string error;
  if (!ParseObject(parser, payload, &o, &error)) return error;
  static const char* kKnown[] = {"matchers", "duration_s", "ends_at", "starts_at", "created_by", "comment",
                                 "maintenance"};
  for (auto field : o) {
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return field.key == k; })) {
      return "unknown member \"" + std::string(field.key) +
             "\"; a silence takes matchers, duration_s or ends_at, starts_at, created_by, comment, maintenance";
    }
  }
  Silence s;
  simdjson::dom::object matchers;
  if (o["matchers"].get_object().get(matchers) != simdjson::SUCCESS) {
    return "\"matchers\" must be an object such as {\"rack\": \"r07\", \"kind\": \"thermal\"}";
  }
  for (auto field : matchers) {
    const std::string key(field.key);
    if (!IsMatcherKey(key)) {
      return "unknown matcher \"" + key + "\"; matchers are server, rack, kind, severity and level";
    }
    std::string_view value;
    if (field.value.get_string().get(value) != simdjson::SUCCESS || value.empty() || value.size() > 128) {
      return "matcher \"" + key + "\" needs a non-empty string value (exact, or a glob such as r0*)";
    }
    if (std::any_of(s.matchers.begin(), s.matchers.end(), [&](const auto& m) { return m.first == key; })) {
      return "matcher \"" + key + "\" is given twice";
    }
    s.matchers.emplace_back(key, value);
  }
  if (s.matchers.empty()) return "a silence needs at least one matcher (server, rack, kind, severity or level)";
  double duration = 0, ends_at = 0, starts_at = now;
  bool has_duration = false, has_end = false, has_start = false;
  if (!OptNumber(o, "duration_s", &duration, &has_duration, &error)) return error;
  if (!OptNumber(o, "ends_at", &ends_at, &has_end, &error)) return error;
  if (!OptNumber(o, "starts_at", &starts_at, &has_start, &error)) return error;
  if (!has_start) starts_at = now;
  if (has_duration == has_end) return "give either \"duration_s\" or \"ends_at\"";
  if (has_duration) {
    if (duration <= 0) return "\"duration_s\" must be more than 0";
    ends_at = starts_at + duration;
  }
  if (ends_at <= starts_at) return "the silence ends (ends_at) before or when it starts (starts_at)";
  if (ends_at <= now) return "the silence would already be over (ends_at is in the past)";
  if (!OptString(o, "created_by", &s.created_by, &error)) return error;
  if (s.created_by.empty()) return "\"created_by\" is required: who is silencing";
  if (!OptString(o, "comment", &s.comment, &error)) return error;
  simdjson::dom::element m;
  if (o["maintenance"].get(m) == simdjson::SUCCESS) {
    if (m.get_bool().get(s.maintenance) != simdjson::SUCCESS) return "\"maintenance\" must be true or false";
  }
  if (s.maintenance && std::none_of(s.matchers.begin(), s.matchers.end(),
                                    [](const auto& x) { return x.first == "server" || x.first == "rack"; })) {
    return "a maintenance needs a server or rack matcher: it names the servers under maintenance";
  }
  size_t live = 0;
  for (const auto& [sid, entry] : silences_) live += entry.silence.StateAt(now) != SilenceState::kExpired ? 1 : 0;
  if (live >= options_.max_silences) {
    return "too many silences (" + std::to_string(live) + ", silences.max_silences); expire some first";
  }
  s.starts_at = starts_at;
  s.ends_at = ends_at;
  s.created_at = now;
  s.id = "sil-" + Hex(++seq_, 16);
  spdlog::info("silence {} by {} ({}): {} matcher(s), {:.0f} s{}", s.id, s.created_by, s.comment, s.matchers.size(),
               s.ends_at - s.starts_at, s.maintenance ? ", maintenance" : "");
  Entry& entry = silences_[s.id];
  entry.silence = std::move(s);
  index_.Add(entry.silence);
  entry.applied = SilenceState::kPending;
  Save(entry.silence, now);
  *added = &entry;
  return std::string();
}

std::string SilenceBook::Expire(const std::string& payload, double now, Entry** expired) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string error, id;
  if (!ParseObject(parser, payload, &o, &error)) return error;
  if (!OptString(o, "id", &id, &error)) return error;
  if (id.empty()) return "\"id\" is required: the silence to expire";
  auto it = silences_.find(id);
  if (it == silences_.end()) return "unknown silence " + id;
  Silence& s = it->second.silence;
  if (s.StateAt(now) == SilenceState::kExpired) return "silence " + id + " has already expired";
  s.ends_at = now;
  if (s.starts_at > now) s.starts_at = now;
  spdlog::info("silence {} expired by command", id);
  Save(s, now);
  *expired = &it->second;
  return std::string();
}

SilenceBook::Entry* SilenceBook::Mirror(const std::string& id, const std::string& payload, double now) {
  auto it = silences_.find(id);
  double expired_at = 0;
  if (payload.empty() || IsSilenceTombstone(payload, &expired_at)) {  // the site expired it (or forgot it)
    if (it == silences_.end() || it->second.silence.StateAt(now) == SilenceState::kExpired) return nullptr;
    it->second.silence.ends_at = expired_at > 0 ? std::min(expired_at, now) : now;
    Save(it->second.silence, now);
    return &it->second;
  }
  Silence s;
  std::string error;
  if (!ParseSilenceDoc(payload, &s, &error) || s.id != id) {
    spdlog::warn("the site's silence {} cannot be read ({}); ignored", id, error.empty() ? "id differs" : error);
    return nullptr;
  }
  if (it != silences_.end()) {
    s.released = it->second.silence.released;  // this pod's decommissions
    index_.Remove(it->second.silence);         // its matchers may have changed
  }
  Entry& entry = silences_[id];
  const bool fresh = entry.silence.id.empty();
  entry.silence = std::move(s);
  index_.Add(entry.silence);
  if (fresh) entry.applied = SilenceState::kPending;
  Save(entry.silence, now);
  // Applied again from scratch: the matchers or times may have changed.
  const SilenceState state = entry.silence.StateAt(now);
  if (state == SilenceState::kActive) {
    entry.applied = SilenceState::kPending;
    return &entry;
  }
  return state != entry.applied ? &entry : nullptr;
}

void SilenceBook::Released(const std::string& server, const std::string& rack, double now) {
  for (auto& [id, entry] : silences_) {
    Silence& s = entry.silence;
    if (s.StateAt(now) == SilenceState::kExpired || !s.CoversServer(server, rack)) continue;
    s.released.push_back(server);
    Save(s, now);
  }
}

std::vector<SilenceBook::Entry*> SilenceBook::Due(double now) {
  std::vector<Entry*> due;
  for (auto& [id, entry] : silences_) {
    if (entry.silence.StateAt(now) != entry.applied) due.push_back(&entry);
  }
  return due;
}

void SilenceBook::Forget(double now) {
  for (auto it = silences_.begin(); it != silences_.end();) {
    const Entry& entry = it->second;
    if (entry.applied != SilenceState::kExpired || now <= entry.silence.ends_at + options_.keep_expired_s) {
      ++it;
      continue;
    }
    writes_.DeleteDoc(kSilences, it->first);
    if (options_.owns_silences) writes_.Outbox(options_.prefix + "/silences/" + it->first, std::string(), true);
    index_.Remove(entry.silence);
    it = silences_.erase(it);
  }
}

void SilenceBook::Save(const Silence& silence, double now) {
  writes_.PutDoc(kSilences, silence.id, SilenceDocJson(silence));
  // P/silences/<id> holds the pending and active ones, and an expired one's tombstone for
  // keep_expired_s (a pod that was away when it ended early sees it at its next subscribe). A pod
  // applies the site's and publishes none.
  if (options_.owns_silences) {
    const bool live = silence.StateAt(now) != SilenceState::kExpired;
    writes_.Outbox(options_.prefix + "/silences/" + silence.id,
                   live ? SilenceJson(silence, now) : SilenceTombstoneJson(silence), true);
  }
  maintenance_changed_ = maintenance_changed_ || silence.maintenance;
}

size_t SilenceBook::active(double now) const {
  size_t n = 0;
  for (const auto& [id, entry] : silences_) n += entry.silence.StateAt(now) == SilenceState::kActive ? 1 : 0;
  return n;
}

std::shared_ptr<const std::vector<Silence>> SilenceBook::ActiveMaintenance(double now) const {
  auto active = std::make_shared<std::vector<Silence>>();
  for (const auto& [id, entry] : silences_) {
    if (entry.silence.maintenance && entry.silence.StateAt(now) == SilenceState::kActive) {
      active->push_back(entry.silence);
    }
  }
  return active;
}

std::string SilenceBook::Json(double now, size_t limit, const std::string& cursor) const {
  std::string out = "{\"silences\":[";
  bool first = true;
  size_t n = 0;
  std::string next;
  for (auto it = cursor.empty() ? silences_.begin() : silences_.upper_bound(cursor); it != silences_.end(); ++it) {
    if (limit > 0 && n == limit) {
      next = std::prev(it)->first;
      break;
    }
    if (!first) out += ',';
    first = false;
    out += SilenceJson(it->second.silence, now);
    ++n;
  }
  out += "]";
  if (limit > 0) out += NextCursorField(next);
  out += "}";
  return out;
}

}  // namespace dctwin
