#include "twins/silence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace dctwin {
namespace {

Silence Make(std::vector<std::pair<std::string, std::string>> matchers, bool maintenance = false) {
  Silence s;
  s.id = "sil-1";
  s.matchers = std::move(matchers);
  s.starts_at = 100;
  s.ends_at = 200;
  s.maintenance = maintenance;
  return s;
}

TEST(SilenceTest, StateFollowsTheClock) {
  const Silence s = Make({{"rack", "r1"}});
  EXPECT_EQ(s.StateAt(99), SilenceState::kPending);
  EXPECT_EQ(s.StateAt(100), SilenceState::kActive);
  EXPECT_EQ(s.StateAt(199.9), SilenceState::kActive);
  EXPECT_EQ(s.StateAt(200), SilenceState::kExpired);
}

TEST(SilenceTest, RackMatcherMatchesTheRackAndItsServersButNotTheDatacenter) {
  const Silence s = Make({{"rack", "r0*"}, {"kind", "thermal"}});
  EXPECT_TRUE(s.Matches({Level::kServer, "s1", "r07", "thermal", Severity::kCritical}));
  EXPECT_TRUE(s.Matches({Level::kRack, "r07", "r07", "thermal", Severity::kCritical}));
  EXPECT_FALSE(s.Matches({Level::kServer, "s1", "r17", "thermal", Severity::kCritical}));
  EXPECT_FALSE(s.Matches({Level::kServer, "s1", "r07", "disk", Severity::kWarning}));
  EXPECT_FALSE(s.Matches({Level::kDatacenter, "dc1", "", "thermal", Severity::kCritical}));
}

TEST(SilenceTest, ServerSeverityAndLevelMatchers) {
  const Silence server = Make({{"server", "s1"}});
  EXPECT_TRUE(server.Matches({Level::kServer, "s1", "r1", "disk", Severity::kWarning}));
  EXPECT_FALSE(server.Matches({Level::kServer, "s10", "r1", "disk", Severity::kWarning}));
  EXPECT_FALSE(server.Matches({Level::kRack, "s1", "s1", "disk", Severity::kWarning}));
  const Silence warnings = Make({{"severity", "warning"}, {"level", "server"}});
  EXPECT_TRUE(warnings.Matches({Level::kServer, "s1", "r1", "disk", Severity::kWarning}));
  EXPECT_FALSE(warnings.Matches({Level::kServer, "s1", "r1", "thermal", Severity::kCritical}));
  EXPECT_FALSE(warnings.Matches({Level::kRack, "r1", "r1", "disk", Severity::kWarning}));
}

TEST(SilenceTest, MaintenanceCoversTheNamedServersUntilReleased) {
  Silence s = Make({{"rack", "r1"}, {"kind", "thermal"}}, true);
  // kind does not narrow which servers are under maintenance
  EXPECT_TRUE(s.CoversServer("s1", "r1"));
  EXPECT_FALSE(s.CoversServer("s1", "r2"));
  s.released.push_back("s1");
  EXPECT_FALSE(s.CoversServer("s1", "r1"));
  EXPECT_TRUE(s.CoversServer("s2", "r1"));
  EXPECT_FALSE(Make({{"rack", "r1"}}, false).CoversServer("s2", "r1")) << "not a maintenance";
  EXPECT_FALSE(Make({{"kind", "thermal"}}, true).CoversServer("s2", "r1")) << "names no servers";
}

// The index may offer more than match, never fewer: for a mix of exact and glob matchers over
// servers, racks, kinds, severities and levels, every silence that matches an incident is among
// its candidates, and an incident is tested against few of them.
TEST(SilenceIndexTest, EveryMatchingSilenceIsACandidateAndFewOthersAre) {
  std::vector<Silence> silences;
  const std::vector<std::vector<std::pair<std::string, std::string>>> shapes = {
      {{"server", "s1"}},
      {{"server", "s2"}, {"kind", "thermal"}},
      {{"rack", "r1"}},
      {{"rack", "r2"}, {"severity", "critical"}},
      {{"kind", "disk"}},
      {{"kind", "silent"}, {"level", "rack"}},
      {{"server", "s*"}, {"kind", "thermal"}},  // a glob server: filed under its kind
      {{"rack", "r[12]"}},                      // globs only: tested against everything
      {{"severity", "warning"}},
      {{"level", "datacenter"}},
  };
  for (int copy = 0; copy < 50; ++copy) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      Silence s;
      s.id = "sil-" + std::to_string(copy) + "-" + std::to_string(i);
      s.matchers = shapes[i];
      // Other copies name other servers, racks and kinds: they must not be offered.
      for (auto& [key, value] : s.matchers) {
        if (copy > 0 && value.find_first_of("*?[") == std::string::npos && key != "severity" && key != "level") {
          value += "-" + std::to_string(copy);
        }
      }
      silences.push_back(std::move(s));
    }
  }
  SilenceIndex index;
  for (const Silence& s : silences) index.Add(s);
  EXPECT_EQ(index.unfiled(), 3u * 50);  // "r[12]", severity only, level only
  size_t offered = 0;
  int incidents = 0;
  for (Level level : {Level::kServer, Level::kRack, Level::kDatacenter}) {
    for (const char* server : {"s1", "s2", "s3"}) {
      for (const char* rack : {"r1", "r2", ""}) {
        for (const char* kind : {"thermal", "disk", "silent"}) {
          for (Severity sev : {Severity::kWarning, Severity::kCritical}) {
            const std::string subject = level == Level::kServer ? server : level == Level::kRack ? rack : "dc1";
            const IncidentFacts facts{level, subject, level == Level::kDatacenter ? "" : rack, kind, sev};
            const std::vector<std::string> candidates = index.Candidates(facts);
            offered += candidates.size();
            ++incidents;
            for (const Silence& s : silences) {
              if (!s.Matches(facts)) continue;
              EXPECT_TRUE(std::binary_search(candidates.begin(), candidates.end(), s.id))
                  << s.id << " matches " << subject << "/" << kind << " but is not a candidate";
            }
          }
        }
      }
    }
  }
  // Of 500 silences, an incident is offered the 150 unfiled ones and a handful filed under its
  // own server, rack or kind.
  EXPECT_LT(offered / static_cast<size_t>(incidents), 160u);
  // Removing takes a silence out of every answer.
  for (const Silence& s : silences) index.Remove(s);
  EXPECT_TRUE(index.Candidates({Level::kServer, "s1", "r1", "thermal", Severity::kCritical}).empty());
  EXPECT_EQ(index.unfiled(), 0u);
}

}  // namespace
}  // namespace dctwin
