#include "twins/reconcile.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/twin_codec.h"
#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

// Saved rows that disagree: the rack and the datacenter were committed after three of the rack's
// servers (and a fourth, decommissioned since) went silent, the servers after they came back.
// Only a crash between those commits leaves such a store, but once it exists nothing else
// resolves the rack incident.
class ReconcileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TwinWorld silent;
    for (const char* s : {"s1", "s2", "s3", "s4"}) silent.Commission(s, "r1");
    silent.now += 61;
    silent.Timers();
    silent.now += 10;
    silent.Timers();
    ASSERT_EQ(silent.EventsFor(Level::kRack, "r1").size(), 1u);  // the likely ToR failure
    const RackTwin& rack = *silent.registry().rack("r1");
    rack_ = EncodeTwin(rack);
    for (const auto& [server, open] : rack.members()) {  // the rack's member rows
      members_.emplace_back(server, EncodeRackMember(RackMemberRow{open, rack.maintenance().count(server) > 0}));
    }
    dc_ = EncodeTwin(*silent.registry().datacenter());
    for (const auto& [id, status] : silent.registry().datacenter()->racks()) dc_racks_.push_back(EncodeRackStatus(status));

    TwinWorld back;
    for (const char* s : {"s1", "s2", "s3"}) {
      back.Commission(s, "r1");
      back.Report(s, {{"temp_c", 40}}, 0);
    }
    for (const char* s : {"s1", "s2", "s3"}) servers_.push_back(EncodeTwin(back.server(s)));
  }

  void Restore(TwinWorld& w) { Restore(w, w); }
  // The servers into one world, the rack and the datacenter into another (shards of a gateway).
  void Restore(TwinWorld& servers, TwinWorld& w) {
    for (size_t i = 0; i < servers_.size(); ++i) {
      ASSERT_TRUE(DecodeTwin(servers_[i], servers.restoring().RestoreServer("s" + std::to_string(i + 1))).ok());
    }
    if (&servers != &w) servers.FinishRestore();
    ASSERT_TRUE(DecodeTwin(rack_, w.restoring().RestoreRack("r1")).ok());
    for (const auto& [server, bytes] : members_) {
      RackMemberRow row;
      ASSERT_TRUE(DecodeRackMember(bytes, &row).ok());
      w.restoring().RestoreRackMember("r1", server, std::move(row.open), row.maintenance);
    }
    ASSERT_TRUE(DecodeTwin(dc_, w.restoring().RestoreDatacenter()).ok());
    for (const std::string& bytes : dc_racks_) {
      RackStatus status;
      ASSERT_TRUE(DecodeRackStatus(bytes, &status).ok());
      w.restoring().RestoreDatacenterRack(std::move(status));
    }
    w.FinishRestore();
  }

  std::string rack_, dc_;
  std::vector<std::pair<std::string, std::string>> members_;  // server, its row
  std::vector<std::string> dc_racks_;
  std::vector<std::string> servers_;
};

TEST_F(ReconcileTest, GhostsLeaveStaleMembersAreToldAgainAndTheOrphanedRackIncidentResolves) {
  TwinWorld w;
  Restore(w);
  ASSERT_EQ(w.registry().rack("r1")->members().size(), 4u);  // s4 is a ghost
  ASSERT_EQ(w.registry().rack("r1")->open_incidents().size(), 1u);
  const size_t before = w.events.size();

  w.Deliver(ReconcileMembership({&w.registry()}, "dc1", true, w.now));

  const RackTwin* rack = w.registry().rack("r1");
  ASSERT_NE(rack, nullptr);
  EXPECT_EQ(rack->members().size(), 3u);
  EXPECT_EQ(rack->members().count("s4"), 0u);
  for (const auto& [server, open] : rack->members()) EXPECT_TRUE(open.empty()) << server;
  EXPECT_TRUE(rack->open_incidents().empty());
  ASSERT_GT(w.events.size(), before);
  const IncidentEvent& resolved = w.events.back();
  EXPECT_EQ(resolved.level, Level::kRack);
  EXPECT_EQ(resolved.kind, "silent");
  EXPECT_EQ(resolved.state, IncidentState::kResolved);
  // The datacenter follows: r1 is healthy again.
  EXPECT_TRUE(w.registry().datacenter()->UnhealthyRacks().empty());
  // Agreement now: nothing more to correct.
  EXPECT_TRUE(ReconcileMembership({&w.registry()}, "dc1", true, w.now).empty());
}

// What a restore of several shards computes, each registry's part on its own: the same
// corrections as for one registry holding everything.
TEST_F(ReconcileTest, EachRegistrysPartTogetherMakeTheWhole) {
  auto describe = [](const std::vector<Envelope>& envelopes) {
    std::multiset<std::string> out;
    for (const Envelope& e : envelopes) {
      std::string d = std::string(LevelName(e.to.level)) + "/" + e.to.id + " #" + std::to_string(e.msg.index());
      if (const auto* m = std::get_if<MemberStatus>(&e.msg)) d += " " + m->server + (m->member ? " member" : " gone");
      out.insert(d);
    }
    return out;
  };
  TwinWorld one;
  Restore(one);
  const std::multiset<std::string> whole = describe(ReconcileMembership({&one.registry()}, "dc1", true, one.now));
  ASSERT_TRUE(whole.count("rack/r1 #3 s4 gone")) << "the ghost is told to leave";

  TwinWorld servers, racks;
  Restore(servers, racks);
  const std::vector<const TwinRegistry*> owners = {&servers.registry(), &racks.registry()};
  std::vector<Envelope> parts = ReconcileMembershipOf(servers.registry(), owners, "dc1", true, one.now);
  for (Envelope& e : ReconcileMembershipOf(racks.registry(), owners, "dc1", true, one.now)) parts.push_back(std::move(e));
  EXPECT_EQ(describe(parts), whole);
  EXPECT_EQ(describe(ReconcileMembership(owners, "dc1", true, one.now)), whole);
}

TEST_F(ReconcileTest, AConsistentStoreNeedsNothing) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  w.now += 61;
  w.Timers();
  w.now += 10;
  w.Timers();
  ASSERT_EQ(w.EventsFor(Level::kRack, "r1").size(), 1u);
  EXPECT_TRUE(ReconcileMembership({&w.registry()}, "dc1", true, w.now).empty());
}

TEST_F(ReconcileTest, RestoredTwinsPublishTheirHealthAgain) {
  TwinWorld w;
  const size_t before = w.health.size();
  Restore(w);
  // Every restored twin: three servers, the rack and the datacenter.
  EXPECT_EQ(w.health.size() - before, 5u);
  EXPECT_NE(w.LastHealth(Level::kServer, "s1"), nullptr);
  EXPECT_NE(w.LastHealth(Level::kRack, "r1"), nullptr);
}

}  // namespace
}  // namespace dctwin
