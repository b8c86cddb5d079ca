#include "gateway/incidents/incident_desk.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "storage/sqlite_state_store.h"
#include "tests/gateway/mqtt/recording_sink.h"

namespace dctwin {
namespace {

using testing::RecordingSink;

IncidentEvent Event(const std::string& id, const std::string& server, IncidentState state) {
  IncidentEvent e;
  e.id = id;
  e.level = Level::kServer;
  e.subject = server;
  e.rack = "r1";
  e.datacenter = "dc1";
  e.kind = "thermal";
  e.severity = Severity::kCritical;
  e.state = state;
  e.opened_at = 100;
  e.at = 100;
  e.summary = "hot";
  return e;
}

// The "state" of an event's JSON.
std::string JsonState(const std::string& json) {
  const size_t at = json.find("\"state\":\"");
  if (at == std::string::npos) return "";
  const size_t from = at + 9;
  return json.substr(from, json.find('"', from) - from);
}

class IncidentDeskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctwin-desk-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(SqliteStateStore::Open(SqliteOptions{dir_ + "/state.db", false, 1000}, &store_).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // What the writer does: take the desk's contribution and commit it.
  StoreBatch Commit(IncidentDesk& desk) {
    StoreBatch b;
    desk.Contribute(b);
    EXPECT_TRUE(store_->Commit(b).ok());
    desk.Committed(now_);
    return b;
  }
  static bool Has(const StoreBatch& b, const std::string& topic, bool retained) {
    for (const OutboxRecord& r : b.outbox) {
      if (r.topic == topic && r.retained == retained) return true;
    }
    return false;
  }
  DeskRequest Request(DeskRequest::Type type, std::string payload) {
    DeskRequest r;
    r.type = type;
    r.payload = std::move(payload);
    r.reply_topic = "reply/t";
    r.correlation = "c1";
    return r;
  }

  std::string dir_;
  std::unique_ptr<SqliteStateStore> store_;
  RecordingSink sink_;
  double now_ = 1000;
  IncidentDesk::Clock clock_ = [this] { return now_; };
};

TEST_F(IncidentDeskTest, AnOpenBecomesAnAlertAndARetainedRecordInTheSameTransaction) {
  IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
  std::vector<IncidentEvent> events{Event("i1", "s1", IncidentState::kOpen)};
  desk.OnIncidents(events, {}, now_, 0);
  StoreBatch b = Commit(desk);
  EXPECT_TRUE(Has(b, "dctwin/alerts/server/s1", false));
  EXPECT_TRUE(Has(b, "dctwin/incidents/server/s1/thermal", true));
  ASSERT_EQ(b.doc_upserts.size(), 1u);
  EXPECT_EQ(b.doc_upserts[0].key.collection, "incident");
  // The resolve clears the record and deletes the document.
  events = {Event("i1", "s1", IncidentState::kResolved)};
  desk.OnIncidents(events, {}, now_, 0);
  b = Commit(desk);
  bool cleared = false;
  for (const OutboxRecord& r : b.outbox) cleared = cleared || (r.topic == "dctwin/incidents/server/s1/thermal" && r.payload.empty());
  EXPECT_TRUE(cleared);
  ASSERT_EQ(b.doc_deletes.size(), 1u);
}

TEST_F(IncidentDeskTest, AtAFullOutboxNewOpensWaitAndResolvesOfAnnouncedOnesDoNot) {
  auto desk = std::make_unique<IncidentDesk>(IncidentDesk::Options{}, sink_, clock_);
  std::vector<IncidentEvent> events{Event("old", "s1", IncidentState::kOpen)};
  desk->OnIncidents(events, {}, now_, 0);
  Commit(*desk);
  desk->SetOutboxFull(true);  // the broker has been away long
  events = {Event("new", "s2", IncidentState::kOpen), Event("brief", "s3", IncidentState::kOpen),
            Event("old", "s1", IncidentState::kResolved), Event("brief", "s3", IncidentState::kResolved)};
  desk->OnIncidents(events, {}, now_, 0);
  StoreBatch b = Commit(*desk);
  EXPECT_TRUE(Has(b, "dctwin/alerts/server/s1", false)) << "the resolve of an announced open goes out";
  EXPECT_FALSE(Has(b, "dctwin/alerts/server/s2", false)) << "a new open waits";
  EXPECT_FALSE(Has(b, "dctwin/incidents/server/s2/thermal", true));
  EXPECT_FALSE(Has(b, "dctwin/alerts/server/s3", false)) << "opened and resolved while full: neither";
  EXPECT_EQ(desk->opens_deferred(), 2u);
  // A restart keeps what waits.
  desk = std::make_unique<IncidentDesk>(IncidentDesk::Options{}, sink_, clock_);
  ASSERT_TRUE(desk->Restore(*store_).ok());
  desk->SetOutboxFull(false);  // room again
  desk->Poll(now_);
  b = Commit(*desk);
  EXPECT_TRUE(Has(b, "dctwin/alerts/server/s2", false));
  EXPECT_TRUE(Has(b, "dctwin/incidents/server/s2/thermal", true));
  EXPECT_FALSE(Has(b, "dctwin/alerts/server/s3", false));
  desk->Poll(now_);
  EXPECT_TRUE(Commit(*desk).outbox.empty()) << "published once";
}

// Issue 22 item 10: an open held back at a full outbox is acknowledged meanwhile. Nothing of it
// goes out while it waits; once there is room the open goes out first, then its acknowledgement.
TEST_F(IncidentDeskTest, AnAckOfAHeldBackOpenGoesOutAfterTheOpen) {
  IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
  desk.SetOutboxFull(true);
  std::vector<IncidentEvent> events{Event("held", "s1", IncidentState::kOpen)};
  desk.OnIncidents(events, {}, now_, 0);
  ASSERT_TRUE(desk.Submit(Request(DeskRequest::Type::kAck, R"({"incident": "held", "by": "alice", "comment": "on it"})")));
  desk.Poll(now_);
  StoreBatch b = Commit(desk);
  EXPECT_FALSE(Has(b, "dctwin/alerts/server/s1", false)) << "neither the open nor its ack before the open";
  EXPECT_FALSE(Has(b, "dctwin/incidents/server/s1/thermal", true));
  desk.SetOutboxFull(false);
  desk.Poll(now_);
  b = Commit(desk);
  std::vector<std::string> states;
  for (const OutboxRecord& r : b.outbox) {
    if (r.topic == "dctwin/alerts/server/s1") states.push_back(JsonState(r.payload));
  }
  EXPECT_EQ(states, (std::vector<std::string>{"open", "acknowledged"}));
  EXPECT_TRUE(Has(b, "dctwin/incidents/server/s1/thermal", true));
}

TEST_F(IncidentDeskTest, ACommandIsAnsweredOnlyAfterItsCommitAndSurvivesARestart) {
  IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
  std::vector<IncidentEvent> events{Event("i1", "s1", IncidentState::kOpen)};
  desk.OnIncidents(events, {}, now_, 0);
  desk.Submit(Request(DeskRequest::Type::kSilence,
                      R"({"matchers": {"rack": "r1"}, "duration_s": 600, "created_by": "alice"})"));
  desk.Poll(now_);
  StoreBatch pending;
  desk.Contribute(pending);
  EXPECT_TRUE(sink_.messages.empty()) << "no answer before the commit";
  // A failed commit: the writer retries with the same contribution; still no answer.
  StoreBatch again;
  desk.Contribute(again);
  EXPECT_EQ(again.outbox.size(), pending.outbox.size());
  StoreBatch b = Commit(desk);
  ASSERT_EQ(sink_.messages.size(), 1u);
  EXPECT_NE(sink_.messages[0].payload.find("\"ok\":true"), std::string::npos) << sink_.messages[0].payload;
  EXPECT_NE(sink_.messages[0].payload.find("i1"), std::string::npos) << "it mutes i1 now";
  EXPECT_EQ(sink_.messages[0].correlation_data, "c1");
  bool retained = false;
  for (const OutboxRecord& r : b.outbox) retained = retained || r.topic.rfind("dctwin/silences/sil-", 0) == 0;
  EXPECT_TRUE(retained);

  // A new desk on the same database knows the silence and the muted record.
  IncidentDesk restored(IncidentDesk::Options{}, sink_, clock_);
  ASSERT_TRUE(restored.Restore(*store_).ok());
  EXPECT_EQ(restored.open_records(), 1);
  EXPECT_EQ(restored.active_silences(), 1);
  EXPECT_EQ(restored.ActiveMaintenance()->size(), 0u);
}

// The gateway's own incidents are published by GatewayIncidents; the desk writes them into the
// history (never into its records or the outbox), and one that a stop cut short ends in the
// history at the next start.
TEST_F(IncidentDeskTest, TheGatewaysOwnIncidentsAreInTheHistoryAndOneCutShortByAStopEndsThere) {
  auto gateway_event = [](const std::string& id, IncidentState state) {
    IncidentEvent e = Event(id, "gw-1", state);
    e.level = Level::kGateway;
    e.rack.clear();
    e.kind = "store_failing";
    e.at = state == IncidentState::kOpen ? 100 : 150;
    return e;
  };
  auto history = [](const StoreBatch& b) {
    std::vector<std::string> out;
    for (const HistoryRecord& h : b.history) out.push_back(h.level + " " + h.kind + " " + JsonState(h.body));
    return out;
  };
  {
    IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
    ASSERT_TRUE(desk.Restore(*store_).ok());
    DeskRequest open;
    open.type = DeskRequest::Type::kGatewayIncident;
    open.event = gateway_event("g1", IncidentState::kOpen);
    ASSERT_TRUE(desk.Submit(open));
    DeskRequest resolve = open;
    resolve.event = gateway_event("g1", IncidentState::kResolved);
    ASSERT_TRUE(desk.Submit(resolve));
    open.event = gateway_event("g2", IncidentState::kOpen);
    ASSERT_TRUE(desk.Submit(open));
    desk.Poll(now_);
    StoreBatch b = Commit(desk);
    EXPECT_EQ(history(b), (std::vector<std::string>{"gateway store_failing open", "gateway store_failing resolved",
                                                    "gateway store_failing open"}));
    EXPECT_TRUE(b.outbox.empty()) << "GatewayIncidents publishes them itself";
    EXPECT_EQ(desk.open_records(), 0);
  }
  // g2 was open at the stop: the next run resolves it in the history, once.
  IncidentDesk restored(IncidentDesk::Options{}, sink_, clock_);
  ASSERT_TRUE(restored.Restore(*store_).ok());
  restored.Poll(now_ + 100);
  StoreBatch b = Commit(restored);
  ASSERT_EQ(history(b), (std::vector<std::string>{"gateway store_failing resolved"}));
  EXPECT_NE(b.history[0].body.find("\"id\":\"g2\""), std::string::npos) << b.history[0].body;
  EXPECT_NE(b.history[0].body.find("stopped while this was open"), std::string::npos) << b.history[0].body;
  restored.Poll(now_ + 200);
  EXPECT_TRUE(Commit(restored).history.empty());
  IncidentDesk again(IncidentDesk::Options{}, sink_, clock_);
  ASSERT_TRUE(again.Restore(*store_).ok());
  again.Poll(now_ + 300);
  EXPECT_TRUE(Commit(again).history.empty()) << "resolved once, not at every start";
}

TEST_F(IncidentDeskTest, BadCommandsAreRefusedCountedAndChangeNothing) {
  IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
  for (const char* payload : {"{not json", R"({"matchers": {}, "duration_s": 60, "created_by": "a"})",
                              R"({"matchers": {"host": "x"}, "duration_s": 60, "created_by": "a"})",
                              R"({"matchers": {"rack": "r1"}, "duration_s": 60})",
                              R"({"matchers": {"rack": "r1"}, "duration_s": 60, "ends_at": 5000, "created_by": "a"})"}) {
    desk.Submit(Request(DeskRequest::Type::kSilence, payload));
  }
  desk.Submit(Request(DeskRequest::Type::kAck, R"({"incident": "nope", "by": "a"})"));
  desk.Poll(now_);
  StoreBatch b = Commit(desk);
  EXPECT_TRUE(b.empty());
  ASSERT_EQ(sink_.messages.size(), 6u);
  for (const OutMessage& m : sink_.messages) EXPECT_NE(m.payload.find("\"ok\":false"), std::string::npos) << m.payload;
  EXPECT_EQ(desk.commands_refused(), 6u);
}

TEST_F(IncidentDeskTest, APodAppliesTheSitesSilencesAndPublishesNone) {
  IncidentDesk::Options pod;
  pod.owns_silences = false;
  pod.answer_unknown = false;
  IncidentDesk desk(pod, sink_, clock_);
  std::vector<IncidentEvent> events{Event("i1", "s1", IncidentState::kOpen)};
  desk.OnIncidents(events, {}, now_, 0);
  Commit(desk);
  DeskRequest mirror;
  mirror.type = DeskRequest::Type::kSilenceMirror;
  mirror.ids = {"sil-1"};
  mirror.payload = R"({"id":"sil-1","matchers":{"server":"s*"},"starts_at":900,"ends_at":2000,"created_by":"site","comment":"","maintenance":false,"state":"active"})";
  desk.Submit(mirror);
  desk.Submit(Request(DeskRequest::Type::kAck, R"({"incident": "held-elsewhere", "by": "a"})"));
  desk.Poll(now_);
  StoreBatch b = Commit(desk);
  EXPECT_FALSE(Has(b, "dctwin/silences/sil-1", true)) << "the site publishes its silences, not the pod";
  bool muted = false;
  for (const OutboxRecord& r : b.outbox) muted = muted || (r.topic == "dctwin/incidents/server/s1/thermal" && r.payload.find("sil-1") != std::string::npos);
  EXPECT_TRUE(muted);
  EXPECT_TRUE(sink_.messages.empty()) << "an ack for an incident another pod holds is not answered here";
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

// A long list answer is joined on the renderer's thread, from each record's JSON as it was
// rendered when the record last changed: the same answer as joined inline, acknowledgements
// included, and nothing of it published before the commit.
TEST_F(IncidentDeskTest, ALongListIsJoinedOffTheWritersThreadAndSaysWhatTheRecordsSay) {
  IncidentDesk::Options threaded;
  threaded.render_thread = true;
  RecordingSink inline_sink;
  IncidentDesk desk(threaded, sink_, clock_);
  IncidentDesk reference(IncidentDesk::Options{}, inline_sink, clock_);
  std::vector<IncidentEvent> events;
  for (int i = 0; i < 500; ++i) events.push_back(Event("i" + std::to_string(1000 + i), "s" + std::to_string(i), IncidentState::kOpen));
  std::vector<IncidentEvent> copy = events;
  desk.OnIncidents(events, {}, now_, 0);
  reference.OnIncidents(copy, {}, now_, 0);
  Commit(desk);
  Commit(reference);
  for (IncidentDesk* d : {&desk, &reference}) {
    d->Submit(Request(DeskRequest::Type::kAck, R"({"incident": "i1007", "by": "ops", "comment": "on it"})"));
    d->Poll(now_);
    Commit(*d);
  }
  {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.messages.clear();
  }
  inline_sink.messages.clear();
  desk.Submit(Request(DeskRequest::Type::kQueryIncidents, ""));
  reference.Submit(Request(DeskRequest::Type::kQueryIncidents, ""));
  desk.Poll(now_);
  reference.Poll(now_);
  {
    std::lock_guard<std::mutex> lock(sink_.mu);
    EXPECT_TRUE(sink_.messages.empty()) << "an answer went out before its commit";
  }
  Commit(desk);
  Commit(reference);
  ASSERT_EQ(inline_sink.messages.size(), 1u);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (answer.empty() && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(sink_.mu);
      if (!sink_.messages.empty()) answer = sink_.messages[0].payload;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(answer, inline_sink.messages[0].payload);
  EXPECT_NE(answer.find("\"acked_by\":\"ops\""), std::string::npos);
  EXPECT_NE(answer.find("\"id\":\"i1499\""), std::string::npos);
  std::lock_guard<std::mutex> lock(sink_.mu);
  EXPECT_EQ(sink_.messages[0].correlation_data, "c1");
}

// P/query/incidents and P/query/silences in pages: {"limit", "cursor"}, "next_cursor" until the
// last page (null); without a limit, everything at once as before.
TEST_F(IncidentDeskTest, ListQueriesAnswerInPagesThatFollowTheirCursor) {
  IncidentDesk desk(IncidentDesk::Options{}, sink_, clock_);
  std::vector<IncidentEvent> events;
  for (const char* id : {"i1", "i2", "i3", "i4", "i5"}) events.push_back(Event(id, std::string("s-") + id, IncidentState::kOpen));
  desk.OnIncidents(events, {}, now_, 0);
  Commit(desk);
  auto ask = [&](const std::string& payload) {
    sink_.messages.clear();
    desk.Submit(Request(DeskRequest::Type::kQueryIncidents, payload));
    desk.Poll(now_);
    Commit(desk);
    EXPECT_EQ(sink_.messages.size(), 1u);
    return sink_.messages.empty() ? std::string() : sink_.messages[0].payload;
  };
  std::string page = ask(R"({"limit": 2})");
  EXPECT_NE(page.find("\"id\":\"i1\""), std::string::npos) << page;
  EXPECT_NE(page.find("\"id\":\"i2\""), std::string::npos) << page;
  EXPECT_EQ(page.find("\"id\":\"i3\""), std::string::npos) << page;
  EXPECT_NE(page.find("\"next_cursor\":\"i2\""), std::string::npos) << page;
  page = ask(R"({"limit": 2, "cursor": "i2"})");
  EXPECT_NE(page.find("\"id\":\"i3\""), std::string::npos) << page;
  EXPECT_NE(page.find("\"next_cursor\":\"i4\""), std::string::npos) << page;
  page = ask(R"({"limit": 2, "cursor": "i4"})");
  EXPECT_NE(page.find("\"id\":\"i5\""), std::string::npos) << page;
  EXPECT_NE(page.find("\"next_cursor\":null"), std::string::npos) << page;
  for (const char* anything : {"", "x", "{}"}) {
    page = ask(anything);
    EXPECT_NE(page.find("\"id\":\"i1\""), std::string::npos) << page;
    EXPECT_NE(page.find("\"id\":\"i5\""), std::string::npos) << page;
    EXPECT_EQ(page.find("next_cursor"), std::string::npos) << page;
  }
  EXPECT_NE(ask(R"({"limit": 0})").find("\"ok\":false"), std::string::npos);
  EXPECT_NE(ask(R"({"limit": 5000})").find("from 1 to 1000"), std::string::npos);
  EXPECT_NE(ask(R"({"cursor": 7})").find("\"ok\":false"), std::string::npos);
  // Silences likewise.
  for (int i = 0; i < 3; ++i) {
    desk.Submit(Request(DeskRequest::Type::kSilence, R"({"matchers": {"rack": "r1"}, "duration_s": 600, "created_by": "t"})"));
  }
  desk.Poll(now_);
  Commit(desk);
  sink_.messages.clear();
  desk.Submit(Request(DeskRequest::Type::kQuerySilences, R"({"limit": 2})"));
  desk.Poll(now_);
  Commit(desk);
  ASSERT_EQ(sink_.messages.size(), 1u);
  const std::string silences = sink_.messages[0].payload;
  size_t listed = 0;
  for (size_t at = silences.find("\"created_by\""); at != std::string::npos; at = silences.find("\"created_by\"", at + 1)) ++listed;
  EXPECT_EQ(listed, 2u) << silences;
  EXPECT_EQ(silences.find("\"next_cursor\":null"), std::string::npos) << silences;
  EXPECT_NE(silences.find("\"next_cursor\":\"sil-"), std::string::npos) << silences;
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

// A feed trip: the servers' and racks' incidents wait for correlation; the feed's incident is
// notified at once; what it causes is notified only if it outlives the feed's; what it never
// caused goes out when its wait is over. Held notifications survive a restart.
TEST_F(IncidentDeskTest, NotificationsAGroupCausesAreHeldBackAndReleasedOnceWhenItResolves) {
  IncidentDesk::Options o;
  o.notify = true;
  o.group_hold_s = 30;
  auto desk = std::make_unique<IncidentDesk>(o, sink_, clock_);
  desk->SetGroups(true);
  auto ids = [&] {
    std::set<std::string> out;
    for (const Notification& n : desk->Notifications()) out.insert(n.incident.id + (n.resolved_at > 0 ? "/resolved" : ""));
    return out;
  };
  auto power = [](const std::string& id, const std::string& server, IncidentState state) {
    IncidentEvent e = Event(id, server, state);
    e.kind = "power";
    return e;
  };
  std::vector<IncidentEvent> events{power("s1-power", "s1", IncidentState::kOpen), power("s2-power", "s2", IncidentState::kOpen),
                                    Event("s3-thermal", "s3", IncidentState::kOpen)};
  desk->OnIncidents(events, {}, now_, 0);
  Commit(*desk);
  // Thermal could be a cooling unit's too: every kind a group can cause waits.
  EXPECT_TRUE(ids().empty());
  EXPECT_EQ(desk->held_notifications(), 3);

  IncidentEvent feed = power("feed-power", "feed:A-12", IncidentState::kOpen);
  feed.level = Level::kGroup;
  feed.rack.clear();
  IncidentEvent s1_caused = power("s1-power", "s1", IncidentState::kUpdated);
  s1_caused.caused_by = "feed-power";
  IncidentEvent s2_caused = s1_caused;
  s2_caused.id = "s2-power";
  s2_caused.subject = "s2";
  events = {feed, s1_caused, s2_caused};
  now_ += 5;
  desk->OnIncidents(events, {}, now_, 0);
  Commit(*desk);
  EXPECT_EQ(ids(), (std::set<std::string>{"feed-power"})) << "the group is notified at once";

  // The wait is over: s3's thermal incident was caused by no group and goes out; the feed's stay.
  now_ += 30;
  desk->Poll(now_);
  Commit(*desk);
  EXPECT_EQ(ids(), (std::set<std::string>{"feed-power", "s3-thermal"}));
  EXPECT_EQ(desk->held_notifications(), 2);

  // s2 resolves while held: never notified, so neither is its end.
  events = {power("s2-power", "s2", IncidentState::kResolved)};
  desk->OnIncidents(events, {}, now_, 0);
  Commit(*desk);
  EXPECT_EQ(desk->held_notifications(), 1);

  // A restart keeps what is held and what causes it.
  desk = std::make_unique<IncidentDesk>(o, sink_, clock_);
  ASSERT_TRUE(desk->Restore(*store_).ok());
  desk->SetGroups(true);
  EXPECT_EQ(desk->held_notifications(), 1);
  desk->Poll(now_);
  Commit(*desk);
  EXPECT_EQ(ids(), (std::set<std::string>{"feed-power", "s3-thermal"}));

  // The feed resolves: s1's incident, still open, is notified now, once.
  feed.state = IncidentState::kResolved;
  events = {feed};
  now_ += 60;
  desk->OnIncidents(events, {}, now_, 0);
  Commit(*desk);
  EXPECT_EQ(ids(), (std::set<std::string>{"feed-power/resolved", "s3-thermal", "s1-power"}));
  EXPECT_EQ(desk->held_notifications(), 0);
}

TEST_F(IncidentDeskTest, WithoutGroupsNothingWaits) {
  IncidentDesk::Options o;
  o.notify = true;
  IncidentDesk desk(o, sink_, clock_);
  std::vector<IncidentEvent> events{Event("i1", "s1", IncidentState::kOpen)};
  desk.OnIncidents(events, {}, now_, 0);
  Commit(desk);
  ASSERT_EQ(desk.Notifications().size(), 1u);
  EXPECT_EQ(desk.held_notifications(), 0);
}

// The handler hears only what a commit changed, however many incidents are owed already: the
// 1,000 firing ones are not handed over again when one more opens or one resolves.
TEST_F(IncidentDeskTest, TheNotificationHandlerHearsOnlyWhatACommitChanged) {
  IncidentDesk::Options o;
  o.notify = true;
  IncidentDesk desk(o, sink_, clock_);
  std::vector<std::vector<NotificationChange>> heard;
  desk.SetNotificationHandler([&](std::vector<NotificationChange> c) { heard.push_back(std::move(c)); });
  std::vector<IncidentEvent> events;
  for (int i = 0; i < 1000; ++i) events.push_back(Event("i" + std::to_string(i), "s" + std::to_string(i), IncidentState::kOpen));
  desk.OnIncidents(events, {}, now_, 0);
  Commit(desk);
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].size(), 1000u);
  events = {Event("new", "s-new", IncidentState::kOpen), Event("i7", "s7", IncidentState::kResolved)};
  now_ += 1;
  desk.OnIncidents(events, {}, now_, 0);
  Commit(desk);
  ASSERT_EQ(heard.size(), 2u);
  ASSERT_EQ(heard[1].size(), 2u);
  std::map<std::string, std::optional<Notification>> last;
  for (NotificationChange& c : heard[1]) last[c.id] = c.notification;
  ASSERT_TRUE(last.at("new").has_value());
  EXPECT_EQ(last.at("new")->resolved_at, 0);
  ASSERT_TRUE(last.at("i7").has_value());  // its resolve is owed until Alertmanager took it
  EXPECT_GT(last.at("i7")->resolved_at, 0);
  // Alertmanager took the resolve: it is no longer owed, and that is all the next commit says.
  DeskRequest delivered;
  delivered.type = DeskRequest::Type::kResolvesDelivered;
  delivered.ids = {"i7"};
  ASSERT_TRUE(desk.Submit(std::move(delivered)));
  desk.Poll(now_);
  Commit(desk);
  ASSERT_EQ(heard.size(), 3u);
  ASSERT_EQ(heard[2].size(), 1u);
  EXPECT_EQ(heard[2][0].id, "i7");
  EXPECT_FALSE(heard[2][0].notification.has_value());
}

}  // namespace
}  // namespace dctwin
