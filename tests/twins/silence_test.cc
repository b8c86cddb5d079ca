#include "twins/silence.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dctwin
