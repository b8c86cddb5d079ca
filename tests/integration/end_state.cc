#include "tests/integration/end_state.h"

#include <simdjson.h>

#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "tests/integration/harness.h"

namespace dctwin::testing {
namespace {

// The broker's retained messages under the trees of the twins' state, topic -> payload.
std::map<std::string, std::string> Retained(int port, const std::string& prefix) {
  const std::string out = RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(port) + " -V 5 -t '" + prefix +
                                     "/health/#' -t '" + prefix + "/incidents/#' -t '" + prefix +
                                     "/silences/#' -t '" + prefix + "/twin/#' -t '" + prefix +
                                     "/control/#' --retained-only -v -W 1 2>/dev/null");
  std::map<std::string, std::string> retained;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    retained[line.substr(0, space)] = line.substr(space + 1);
  }
  return retained;
}

std::string Ask(int port, const std::string& topic, const std::string& request = "") {
  return RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(port) + " -t '" + topic +
                    "' -e 'dctwin/reply/end-state' -m '" + request + "' -W 5 2>/dev/null");
}

// Ids in an array of strings or of objects with an "id".
std::set<std::string> Ids(simdjson::dom::element doc, const char* key) {
  std::set<std::string> ids;
  simdjson::dom::array a;
  if (doc[key].get(a)) return ids;
  for (simdjson::dom::element e : a) {
    std::string_view s;
    if (!e.get(s) || !e["id"].get(s)) ids.emplace(s);
  }
  return ids;
}

std::string Str(simdjson::dom::element doc, const char* key) {
  std::string_view s;
  return doc[key].get(s) ? std::string() : std::string(s);
}

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& x : s) out += (out.empty() ? "" : ",") + x;
  return "[" + out + "]";
}

}  // namespace

std::string RetainedDisagreements(int port, const std::string& prefix) {
  std::ostringstream problems;
  const std::map<std::string, std::string> retained = Retained(port, prefix);
  simdjson::dom::parser parser;
  auto parse = [&](const std::string& json, const std::string& what, simdjson::dom::element* doc) {
    if (parser.parse(json).get(*doc)) {
      problems << what << ": not JSON: " << json << "\n";
      return false;
    }
    return true;
  };
  const std::string health = prefix + "/health/";
  std::set<std::string> racks_with_health;
  for (const auto& [topic, payload] : retained) {
    if (topic.rfind(health + "rack/", 0) == 0) racks_with_health.insert(topic.substr(health.size() + 5));
  }
  for (const auto& [topic, payload] : retained) {
    if (topic.rfind(health, 0) != 0) continue;
    const std::string rest = topic.substr(health.size());
    const std::string level = rest.substr(0, rest.find('/'));
    const std::string subject = rest.substr(level.size() + 1);
    if (level != "server" && level != "rack" && level != "datacenter" && level != "group") continue;  // gateway: no twin
    simdjson::dom::element h;
    if (!parse(payload, topic, &h)) continue;
    const std::string status = Str(h, "status");
    const std::set<std::string> open = Ids(h, "open");
    const std::string answer =
        Ask(port, prefix + "/query/" + (level == "datacenter" ? level : level + "/" + subject));
    simdjson::dom::element a;
    if (!parse(answer, "query " + level + "/" + subject, &a)) continue;
    bool found = false;
    if (a["found"].get(found) || !found) {
      problems << topic << " is retained (" << status << ") but the twin is unknown: " << answer << "\n";
      continue;
    }
    if (Str(a, "status") != status) {
      problems << topic << " says " << status << ", the twin says " << Str(a, "status") << "\n";
    }
    if (Ids(a, "open") != open) {
      problems << topic << " names " << Join(open) << " open, the twin " << Join(Ids(a, "open")) << "\n";
    }
    if (level == "rack") {
      // Every member of the rack has its retained health.
      simdjson::dom::array members;
      if (!a["members"].get(members)) {
        for (simdjson::dom::element m : members) {
          const std::string server = Str(m, "server");
          if (retained.count(health + "server/" + server) == 0) {
            problems << "server " << server << " of rack " << subject << " has no retained health\n";
          }
        }
      }
    }
    if (level == "datacenter") {
      int64_t racks = 0;
      if (!a["racks"].get(racks) && static_cast<size_t>(racks) != racks_with_health.size()) {
        problems << "the datacenter holds " << racks << " racks, " << racks_with_health.size()
                 << " have retained health\n";
      }
    }
  }

  // Open incidents: the retained records are exactly the desk's.
  const std::string incidents = prefix + "/incidents/";
  std::map<std::string, std::string> records;  // id -> retained record
  for (const auto& [topic, payload] : retained) {
    if (topic.rfind(incidents, 0) != 0) continue;
    simdjson::dom::element r;
    if (!parse(payload, topic, &r)) continue;
    const std::string expected_topic =
        incidents + Str(r, "level") + "/" + Str(r, "subject") + "/" + Str(r, "kind");
    if (topic != expected_topic) problems << topic << " holds a record of " << expected_topic << "\n";
    records[Str(r, "id")] = payload;
  }
  const std::string listed = Ask(port, prefix + "/query/incidents");
  simdjson::dom::element l;
  if (parse(listed, "query incidents", &l)) {
    simdjson::dom::array list;
    std::set<std::string> ids;
    if (!l["incidents"].get(list)) {
      for (simdjson::dom::element r : list) {
        const std::string id = Str(r, "id");
        ids.insert(id);
        auto it = records.find(id);
        if (it == records.end()) {
          problems << "open incident " << id << " has no retained record\n";
        } else if (it->second != simdjson::minify(r)) {
          problems << "the retained record of " << id << " differs from the desk's:\n  " << it->second << "\n  "
                   << simdjson::minify(r) << "\n";
        }
      }
    }
    for (const auto& [id, payload] : records) {
      if (ids.count(id) == 0) problems << "retained record of " << id << " is not an open incident: " << payload << "\n";
    }
  }

  // Silences: pending and active ones are retained as the desk lists them; an expired one is at
  // most a tombstone.
  const std::string silences = prefix + "/silences/";
  std::map<std::string, std::string> retained_silences;
  for (const auto& [topic, payload] : retained) {
    if (topic.rfind(silences, 0) == 0) retained_silences[topic.substr(silences.size())] = payload;
  }
  const std::string desk = Ask(port, prefix + "/query/silences");
  simdjson::dom::element d;
  if (parse(desk, "query silences", &d)) {
    std::map<std::string, std::string> state;
    simdjson::dom::array list;
    if (!d["silences"].get(list)) {
      for (simdjson::dom::element s : list) state[Str(s, "id")] = Str(s, "state");
    }
    for (const auto& [id, st] : state) {
      if (st == "expired") continue;
      auto it = retained_silences.find(id);
      if (it == retained_silences.end()) {
        problems << "silence " << id << " is " << st << " but not retained\n";
      } else if (JsonString(it->second, "state") != st) {
        problems << "silence " << id << " is " << st << ", its retained record says " << JsonString(it->second, "state")
                 << "\n";
      }
    }
    for (const auto& [id, payload] : retained_silences) {
      const std::string st = JsonString(payload, "state");
      if (st != "expired" && state.count(id) == 0) problems << "retained silence " << id << " is unknown to the desk\n";
      if (st != "expired" && state.count(id) > 0 && state[id] == "expired") {
        problems << "silence " << id << " expired but its retained record says " << st << "\n";
      }
    }
  }
  // Desired state: each retained P/twin/server/<id> is what P/query/twin/<id> answers, and each
  // retained P/control/<id> holds that answer's version, desired state and delta.
  const std::string twin = prefix + "/twin/server/", control = prefix + "/control/";
  std::map<std::string, std::string> answers;  // server -> P/query/twin answer
  auto twin_answer = [&](const std::string& server) -> const std::string& {
    auto it = answers.find(server);
    if (it == answers.end()) it = answers.emplace(server, Ask(port, prefix + "/query/twin/" + server)).first;
    return it->second;
  };
  for (const auto& [topic, payload] : retained) {
    if (topic.rfind(twin, 0) == 0) {
      const std::string server = topic.substr(twin.size());
      std::string answer = twin_answer(server);
      while (!answer.empty() && answer.back() == '\n') answer.pop_back();
      if (answer != payload) problems << topic << " differs from the twin's answer:\n  " << payload << "\n  " << answer << "\n";
    } else if (topic.rfind(control, 0) == 0) {
      const std::string server = topic.substr(control.size());
      simdjson::dom::parser second;  // a parser holds one document at a time
      simdjson::dom::element c, a;
      if (!parse(payload, topic, &c)) continue;
      if (second.parse(twin_answer(server)).get(a)) {
        problems << "query twin/" << server << ": not JSON: " << twin_answer(server) << "\n";
        continue;
      }
      int64_t cv = -1, av = -2;
      simdjson::dom::element cd, ad, cx, ax;
      const bool same = !c["version"].get(cv) && !a["version"].get(av) && cv == av && !c["desired"].get(cd) && !a["desired"].get(ad) && !c["delta"].get(cx) &&
                        !a["delta"].get(ax) && simdjson::minify(cd) == simdjson::minify(ad) &&
                        simdjson::minify(cx) == simdjson::minify(ax);
      if (!same) problems << topic << " (" << payload << ") disagrees with the twin: " << twin_answer(server) << "\n";
    }
  }
  return problems.str();
}

std::string WaitForAgreement(int port, std::chrono::milliseconds timeout, const std::string& prefix) {
  std::string last;
  WaitUntil([&] {
    last = RetainedDisagreements(port, prefix);
    return last.empty();
  }, timeout);
  return last;
}

}  // namespace dctwin::testing
