// dctwinctl: the operator's command line for a running dctwin gateway, in the spirit of amtool.
// Speaks the same MQTT 5 requests as mosquitto_rr would (contract v2: P/query/..., P/command/...),
// prints an aligned table by default and the gateway's JSON with --json.
//
// Exit status: 0 done; 1 the gateway refused (ok: false, or found: false); 2 bad usage;
// 3 no answer within --timeout, or the broker could not be reached.

#include <CLI/CLI.hpp>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "base/json_writer.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoAnswer = 3;

struct Connection {
  std::string broker = "tcp://127.0.0.1:1883";
  std::string prefix = "dctwin";
  std::string username;
  std::string password;
  double timeout_s = 5;
};

// One request, one answer: subscribes to a reply topic of its own under P/reply/, publishes the
// request with Response Topic and Correlation Data, waits for the answer that echoes them.
std::optional<std::string> Ask(const Connection& c, const std::string& topic, const std::string& payload,
                               std::string* error) {
  std::random_device rd;
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(rd());
  const std::string reply_topic = c.prefix + "/reply/dctwinctl-" + tag;
  mqtt::async_client client(c.broker, "dctwinctl-" + tag, mqtt::create_options(MQTTVERSION_5));
  std::mutex mu;
  std::condition_variable cv;
  std::optional<std::string> answer;
  client.set_message_callback([&](mqtt::const_message_ptr msg) {
    const mqtt::properties& props = msg->get_properties();
    if (!props.contains(mqtt::property::CORRELATION_DATA) ||
        mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA) != tag) {
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    answer = msg->get_payload_str();
    cv.notify_all();
  });
  const auto timeout = std::chrono::milliseconds(static_cast<long long>(c.timeout_s * 1000));
  try {
    auto opts = mqtt::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(true)
                    .connect_timeout(std::chrono::seconds(std::max(1, static_cast<int>(std::ceil(c.timeout_s)))))
                    .finalize();
    if (!c.username.empty()) {
      opts.set_user_name(c.username);
      opts.set_password(c.password);
    }
    if (!client.connect(opts)->wait_for(timeout)) {
      *error = "cannot connect to the broker " + c.broker + " within " + std::to_string(c.timeout_s) + " s";
      return std::nullopt;
    }
    if (!client.subscribe(reply_topic, 1)->wait_for(timeout)) {
      *error = "the broker did not confirm the subscription to " + reply_topic;
      return std::nullopt;
    }
    auto msg = mqtt::make_message(topic, payload, 1, false);
    mqtt::properties props;
    props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, reply_topic));
    props.add(mqtt::property(mqtt::property::CORRELATION_DATA, tag));
    msg->set_properties(props);
    client.publish(msg)->wait_for(timeout);
  } catch (const mqtt::exception& e) {
    *error = "broker " + c.broker + ": " + e.what();
    return std::nullopt;
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, timeout, [&] { return answer.has_value(); });
  std::optional<std::string> result = answer;
  lock.unlock();
  try {
    client.disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const mqtt::exception&) {
  }
  if (!result) {
    *error = "no answer from the gateway on " + topic + " within " + std::to_string(static_cast<int>(c.timeout_s)) +
             " s (is dctwin-gateway running and connected to " + c.broker + "?)";
  }
  return result;
}

// --- reading answers ---

simdjson::dom::parser& Parser() {
  static simdjson::dom::parser parser;
  return parser;
}
std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}
double Num(simdjson::dom::element e, const char* key) {
  double v = 0;
  if (e[key].get_double().get(v) == simdjson::SUCCESS) return v;
  int64_t i = 0;
  return e[key].get_int64().get(i) == simdjson::SUCCESS ? static_cast<double>(i) : 0;
}
bool Flag(simdjson::dom::element e, const char* key) {
  bool v = false;
  return e[key].get_bool().get(v) == simdjson::SUCCESS && v;
}
std::string Join(simdjson::dom::element e, const char* key) {
  std::string out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element x : a) {
    std::string_view v;
    if (x.get_string().get(v) != simdjson::SUCCESS) continue;
    if (!out.empty()) out += ",";
    out += v;
  }
  return out;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Age(double since) {
  if (since <= 0) return "-";
  const long long s = std::llround(Now() - since);
  if (s < 0) return "in " + Age(2 * Now() - since);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// A span of time ahead: "45s", "38m", "2.4h", "3.1d".
std::string Span(double s) {
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%.0fs", std::max(0.0, s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fd", s / 86400);
  }
  return buf;
}

std::string Time(double t) {
  const auto secs = static_cast<time_t>(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

void PrintTable(const std::vector<std::vector<std::string>>& rows);

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// What the forecast and change rules of a server see (P/query/server's forecasts and changes).
void PrintForesight(simdjson::dom::element doc) {
  simdjson::dom::array list;
  std::vector<std::vector<std::string>> forecasts{{"FORECAST", "METRIC", "NOW", "TREND", "REACHES", "IN", "AT", "OPEN"}};
  if (doc["forecasts"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element f : list) {
      std::vector<std::string> row{Str(f, "kind"), Str(f, "metric"), "-", "-",
                                   Str(f, "op") + " " + Number(Num(f, "threshold")), "", "-",
                                   Flag(f, "firing") ? "yes" : "no"};
      if (!Flag(f, "known")) {
        row[5] = "no trend yet (" + std::to_string(static_cast<long long>(Num(f, "points"))) + " points)";
      } else {
        row[2] = Number(Num(f, "level"));
        const double rate = Num(f, "rate_per_h");
        row[3] = (rate >= 0 ? "+" : "") + Number(rate) + "/h";
        double eta = 0;
        if (f["eta_s"].get_double().get(eta) != simdjson::SUCCESS) {
          row[5] = "never (the trend does not head there)";
        } else {
          // The etas count from `at`, the end of the trend's newest bucket.
          const double at = Num(f, "at");
          const double from_now = at - Now();
          double high = 0;
          const bool bounded = f["eta_high_s"].get_double().get(high) == simdjson::SUCCESS;
          row[5] = eta + from_now <= 0 ? "now"
                                       : "~" + Span(eta + from_now) + " (" + Span(Num(f, "eta_low_s") + from_now) + "-" +
                                             (bounded ? Span(high + from_now) : std::string("never")) + ")";
          row[6] = Time(at + eta);
        }
      }
      forecasts.push_back(std::move(row));
    }
  }
  if (forecasts.size() > 1) {
    std::printf("\n");
    PrintTable(forecasts);
  }
  std::vector<std::vector<std::string>> changes{{"CHANGE", "METRIC", "LEVEL", "STEP", "OPEN"}};
  if (doc["changes"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element c : list) {
      std::string step = Flag(c, "learning") ? "learning its level" : "none";
      if (Flag(c, "changed")) {
        step = std::string(Flag(c, "up") ? "up" : "down") + " from " + Number(Num(c, "before")) + " to " +
               Number(Num(c, "after")) + " at " + Time(Num(c, "changed_at"));
      }
      changes.push_back({Str(c, "direction"), Str(c, "metric"), Number(Num(c, "level")), step,
                         Flag(c, "firing") ? "yes" : "no"});
    }
  }
  if (changes.size() > 1) {
    std::printf("\n");
    PrintTable(changes);
  }
}

// An aligned table: the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

// Parses "2h", "90m", "1h30m", "45s", "1d" or plain seconds. Returns < 0 when it cannot.
double ParseDuration(const std::string& text) {
  double total = 0, number = 0;
  bool digits = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if ((ch >= '0' && ch <= '9') || ch == '.') {
      size_t used = 0;
      number = std::stod(text.substr(i), &used);
      i += used - 1;
      digits = true;
      continue;
    }
    if (!digits) return -1;
    const double unit = ch == 's' ? 1 : ch == 'm' ? 60 : ch == 'h' ? 3600 : ch == 'd' ? 86400 : ch == 'w' ? 604800 : -1;
    if (unit < 0) return -1;
    total += number * unit;
    digits = false;
    any = true;
  }
  if (digits) total += number;  // trailing plain seconds
  return (any || digits) && total > 0 ? total : -1;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  dctwin::JsonWriter::AppendEscaped(out, s);
  return out;
}

// The answer as a JSON element, or the exit status when it says the request failed.
int Check(const std::string& answer, simdjson::dom::element* out) {
  if (Parser().parse(answer).get(*out) != simdjson::SUCCESS) {
    std::fprintf(stderr, "dctwinctl: the gateway answered something that is not JSON: %s\n", answer.c_str());
    return kExitRefused;
  }
  bool ok = true;
  if ((*out)["ok"].get_bool().get(ok) == simdjson::SUCCESS && !ok) {
    std::fprintf(stderr, "dctwinctl: refused: %s\n", Str(*out, "error").c_str());
    return kExitRefused;
  }
  bool found = true;
  if ((*out)["found"].get_bool().get(found) == simdjson::SUCCESS && !found) {
    std::fprintf(stderr, "dctwinctl: %s\n", Str(*out, "error").c_str());
    return kExitRefused;
  }
  if (!Str(*out, "error").empty()) {
    std::fprintf(stderr, "dctwinctl: %s\n", Str(*out, "error").c_str());
    return kExitRefused;
  }
  return 0;
}

// "24h" ago, or a Unix time as it is; < 0 when it is neither.
double ParseSince(const std::string& text) {
  const double v = ParseDuration(text);
  if (v <= 0) return -1;
  return v > 1e9 && text.find_first_not_of("0123456789.") == std::string::npos ? v : Now() - v;
}

std::string Seconds(double s) {
  if (s < 0) return "-";
  const long long n = std::llround(s);
  char buf[32];
  if (n < 120) {
    std::snprintf(buf, sizeof buf, "%llds", n);
  } else if (n < 7200) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", n / 60, n % 60);
  } else if (n < 172800) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", n / 3600, n / 60 % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh", n / 86400, n / 3600 % 24);
  }
  return buf;
}

// One event of P/query/history as a table row.
std::vector<std::string> HistoryRow(simdjson::dom::element e) {
  const std::string type = Str(e, "type");
  std::string what = type == "incident" ? Str(e, "state") : Str(e, "change");
  std::string subject = Str(e, "subject"), detail = Str(e, "summary");
  if (type == "provisioning") {
    subject = Str(e, "server");
    if (what == "moved") detail = "from " + Str(e, "from_rack");
  } else if (type == "silence") {
    subject = Str(e, "id");
    simdjson::dom::object o;
    if (e["matchers"].get_object().get(o) == simdjson::SUCCESS) {
      for (auto f : o) {
        std::string_view v;
        if (f.value.get_string().get(v) == simdjson::SUCCESS) detail += std::string(detail.empty() ? "" : " ") + std::string(f.key) + "=" + std::string(v);
      }
    }
    if (!Str(e, "created_by").empty()) detail += " by " + Str(e, "created_by");
  } else if (type == "control") {
    subject = Str(e, "server");
    detail = "version " + std::to_string(static_cast<long long>(Num(e, "version")));
    if (what == "reported") detail += " ac " + std::to_string(static_cast<long long>(Num(e, "ac"))) + " " + Str(e, "state");
    if (what == "refused") detail = Str(e, "error");
    detail += " by " + Str(e, "by") + (Str(e, "comment").empty() ? "" : ": " + Str(e, "comment"));
  } else if (what == "acknowledged") {
    detail = "by " + Str(e, "acked_by") + (Str(e, "ack_comment").empty() ? "" : ": " + Str(e, "ack_comment"));
  }
  return {Time(Num(e, "at")), type, what, Str(e, "level").empty() ? "-" : Str(e, "level"), subject,
          Str(e, "rack").empty() ? "-" : Str(e, "rack"), Str(e, "kind").empty() ? "-" : Str(e, "kind"),
          Str(e, "severity").empty() ? "-" : Str(e, "severity"), type == "incident" ? Str(e, "id") : "-", detail};
}

// A KEY=VALUE value as JSON: true/false, null, a number, or else text ("..." forces text).
std::string ValueJson(const std::string& v) {
  if (v == "true" || v == "false" || v == "null") return v;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return "\"" + JsonEscape(v.substr(1, v.size() - 2)) + "\"";
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end != nullptr && *end == '\0' && std::isfinite(d) && v.find_first_of("xXnN") == std::string::npos) return v;
  return "\"" + JsonEscape(v) + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwinctl: list, silence and acknowledge the incidents of a dctwin gateway over MQTT 5"};
  app.require_subcommand(1);
  Connection c;
  bool json = false;
  // The last of a repeated option wins, so wrappers can set defaults that a caller overrides.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--broker", c.broker, "broker URI (tcp://host:port)")->envname("DCTWIN_BROKER");
  app.add_option("--prefix", c.prefix, "topic prefix P of the gateway")->envname("DCTWIN_PREFIX");
  app.add_option("--timeout", c.timeout_s, "seconds to wait for the gateway's answer")->check(CLI::PositiveNumber);
  app.add_option("--username", c.username, "broker username")->envname("DCTWIN_USERNAME");
  app.add_option("--password", c.password, "broker password (better: DCTWIN_PASSWORD)")->envname("DCTWIN_PASSWORD");
  app.add_flag("--json", json, "print the gateway's JSON answer instead of a table");

  std::string rack_filter;
  auto* incidents = app.add_subcommand("incidents", "list the open incidents");
  incidents->add_option("--rack", rack_filter, "only this rack's incidents (servers and the rack itself)");
  incidents->add_flag("--json", json, "print JSON");

  auto* silence = app.add_subcommand("silence", "add, list or expire silences");
  silence->require_subcommand(1);
  std::vector<std::string> matchers;
  std::string duration, comment, by;
  bool maintenance = false;
  double until = 0;
  auto* add = silence->add_subcommand("add", "mute the incidents that match KEY=VALUE matchers (server, rack, kind, severity, level; globs allowed)");
  add->add_option("matchers", matchers, "KEY=VALUE ...")->required();
  add->add_option("--for,-d", duration, "how long: 2h, 90m, 1h30m, 45s, 1d");
  add->add_option("--until", until, "ends at this Unix time instead");
  add->add_option("--comment,-c", comment, "why");
  add->add_option("--by", by, "who (default: $USER)");
  add->add_flag("--maintenance", maintenance, "also keep the servers from going silent and out of rack correlation");
  add->add_flag("--json", json, "print JSON");
  auto* ls = silence->add_subcommand("ls", "list the silences");
  ls->add_flag("--json", json, "print JSON");
  std::string silence_id;
  auto* expire = silence->add_subcommand("expire", "end a silence now");
  expire->add_option("id", silence_id, "silence id")->required();

  std::string incident_id;
  auto* ack = app.add_subcommand("ack", "acknowledge an open incident");
  ack->add_option("id", incident_id, "incident id")->required();
  ack->add_option("--comment,-c", comment, "what you are doing about it");
  ack->add_option("--by", by, "who (default: $USER)");

  auto* racks = app.add_subcommand("racks", "list the unhealthy racks");
  racks->add_flag("--json", json, "print JSON");
  std::string server_id;
  auto* server = app.add_subcommand("server", "show one server: status, open incidents, its metrics over the window");
  server->add_option("id", server_id, "server id")->required();
  server->add_flag("--json", json, "print JSON");

  std::string history_since = "24h", report_since = "7d", until_text, kind_filter, subject_filter, type_filter, level_filter, severity_filter;
  std::string by_what = "server";
  int limit = 1000;
  auto* history = app.add_subcommand("history", "what happened: incident events, silences, provisioning (oldest first)");
  history->add_option("--since", history_since, "from this long ago (24h, 7d) or this Unix time (default: 24h)");
  history->add_option("--until", until_text, "up to this long ago or this Unix time (default: now)");
  history->add_option("--rack", rack_filter, "only this rack's");
  history->add_option("--kind", kind_filter, "only incidents of this kind");
  history->add_option("--subject", subject_filter, "only this server (or rack, or datacenter)");
  history->add_option("--type", type_filter, "incident, silence, provisioning or control");
  history->add_option("--level", level_filter, "server, rack, datacenter or gateway");
  history->add_option("--severity", severity_filter, "warning or critical");
  history->add_option("--limit", limit, "at most this many events (pages of up to 1000 are fetched)")->check(CLI::PositiveNumber);
  history->add_flag("--json", json, "print each page's JSON answer, one per line");
  auto* report = app.add_subcommand("report", "availability, incidents, MTTA and MTTR over a period");
  report->add_option("--since", report_since, "from this long ago (7d, 24h) or this Unix time (default: 7d)");
  report->add_option("--until", until_text, "up to this long ago or this Unix time (default: now)");
  report->add_option("--by", by_what, "server, rack or datacenter")->check(CLI::IsMember({"server", "rack", "datacenter"}));
  report->add_option("--rack", rack_filter, "only this rack");
  report->add_flag("--json", json, "print JSON");

  std::string target;
  std::vector<std::string> assignments;
  long long expect_version = -1;
  bool dry_run = false;
  auto* set = app.add_subcommand("set", "change a server's desired state, or every server's of a rack (rack=r07)");
  set->add_option("target", target, "server id, or rack=<id>")->required();
  set->add_option("keys", assignments, "KEY=VALUE ... (true/false, numbers, text; KEY=null removes the key)")->required();
  set->add_option("--version", expect_version, "refuse unless this is the server's current version")->check(CLI::NonNegativeNumber);
  set->add_option("--comment,-c", comment, "why");
  set->add_option("--by", by, "who (default: $USER)");
  set->add_flag("--dry-run", dry_run, "check the keys and interlocks, change nothing");
  set->add_flag("--json", json, "print JSON");
  std::string twin_id;
  auto* twin = app.add_subcommand("twin", "show one server's desired and reported state");
  twin->add_option("id", twin_id, "server id")->required();
  twin->add_flag("--json", json, "print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (by.empty()) {
    const char* user = std::getenv("USER");
    by = user != nullptr && *user != '\0' ? user : "dctwinctl";
  }

  std::string time_bounds;
  if (*history || *report) {
    const double since = ParseSince(*history ? history_since : report_since);
    const double until_at = until_text.empty() ? 0 : ParseSince(until_text);
    if (since < 0 || until_at < 0) {
      std::fprintf(stderr, "dctwinctl: --since/--until take a duration (24h, 7d, 90m) or a Unix time\n");
      return kExitUsage;
    }
    time_bounds = "\"since\":" + std::to_string(since) + (until_at > 0 ? ",\"until\":" + std::to_string(until_at) : "");
  }
  if (*history) {
    std::string filters = time_bounds;
    const std::pair<const char*, const std::string*> fields[] = {
        {"rack", &rack_filter}, {"kind", &kind_filter},   {"subject", &subject_filter},
        {"type", &type_filter}, {"level", &level_filter}, {"severity", &severity_filter}};
    for (const auto& [key, value] : fields) {
      if (!value->empty()) filters += std::string(",\"") + key + "\":\"" + JsonEscape(*value) + "\"";
    }
    std::vector<std::vector<std::string>> rows{
        {"TIME", "TYPE", "EVENT", "LEVEL", "SUBJECT", "RACK", "KIND", "SEVERITY", "INCIDENT", "DETAIL"}};
    std::string cursor, error;
    int left = limit;
    do {
      const std::string request = "{" + filters + ",\"limit\":" + std::to_string(std::min(left, 1000)) +
                                  (cursor.empty() ? "" : ",\"cursor\":\"" + cursor + "\"") + "}";
      const std::optional<std::string> answer = Ask(c, c.prefix + "/query/history", request, &error);
      if (!answer) {
        std::fprintf(stderr, "dctwinctl: %s\n", error.c_str());
        return kExitNoAnswer;
      }
      simdjson::dom::element doc;
      if (const int rc = Check(*answer, &doc); rc != 0) return rc;
      if (json) std::printf("%s\n", answer->c_str());
      simdjson::dom::array list;
      if (doc["events"].get_array().get(list) == simdjson::SUCCESS) {
        for (simdjson::dom::element e : list) {
          rows.push_back(HistoryRow(e));
          --left;
        }
      }
      cursor = Str(doc, "next_cursor");
    } while (!cursor.empty() && left > 0);
    if (!json) {
      if (rows.size() == 1) {
        std::printf("nothing happened in that period\n");
      } else {
        PrintTable(rows);
      }
      if (!cursor.empty()) std::fprintf(stderr, "(more events: raise --limit or narrow the period)\n");
    }
    return 0;
  }

  if (*incidents) {
    // Page through the list (1,000 records a page), then print it as one table or one document.
    std::vector<std::string> records;
    std::string cursor, error;
    do {
      const std::string request = "{\"limit\":1000" + (cursor.empty() ? "" : ",\"cursor\":\"" + JsonEscape(cursor) + "\"") + "}";
      const std::optional<std::string> answer = Ask(c, c.prefix + "/query/incidents", request, &error);
      if (!answer) {
        std::fprintf(stderr, "dctwinctl: %s\n", error.c_str());
        return kExitNoAnswer;
      }
      simdjson::dom::element doc;
      if (const int rc = Check(*answer, &doc); rc != 0) return rc;
      simdjson::dom::array list;
      if (doc["incidents"].get_array().get(list) == simdjson::SUCCESS) {
        for (simdjson::dom::element i : list) records.push_back(simdjson::minify(i));
      }
      cursor = Str(doc, "next_cursor");
    } while (!cursor.empty());
    if (json) {
      std::string out = "{\"incidents\":[";
      for (size_t i = 0; i < records.size(); ++i) out += (i ? "," : "") + records[i];
      std::printf("%s]}\n", out.c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows{
        {"ID", "LEVEL", "SUBJECT", "KIND", "SEVERITY", "AGE", "ACKED BY", "SILENCED BY", "FLAPPING", "SUMMARY"}};
    simdjson::dom::parser parser;
    for (const std::string& text : records) {
      simdjson::dom::element i;
      if (parser.parse(text).get(i) != simdjson::SUCCESS) continue;
      const std::string level = Str(i, "level");
      if (!rack_filter.empty() && Str(i, "rack") != rack_filter && !(level == "rack" && Str(i, "subject") == rack_filter)) {
        continue;
      }
      rows.push_back({Str(i, "id"), level, Str(i, "subject"), Str(i, "kind"), Str(i, "severity"),
                      Age(Num(i, "opened_at")), Str(i, "acked_by").empty() ? "-" : Str(i, "acked_by"),
                      Join(i, "silenced_by").empty() ? "-" : Join(i, "silenced_by"), Flag(i, "flapping") ? "yes" : "no",
                      Str(i, "summary")});
    }
    PrintTable(rows);
    return 0;
  }

  std::string topic, payload = "{}";
  if (*report) {
    topic = c.prefix + "/query/report";
    payload = "{" + time_bounds + ",\"by\":\"" + by_what + "\"" +
              (rack_filter.empty() ? "" : ",\"rack\":\"" + JsonEscape(rack_filter) + "\"") + "}";
  } else if (*add) {
    std::string m;
    for (const std::string& kv : matchers) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
        std::fprintf(stderr, "dctwinctl: matcher \"%s\" must be KEY=VALUE (e.g. rack=r07)\n", kv.c_str());
        return kExitUsage;
      }
      if (!m.empty()) m += ",";
      m += "\"" + JsonEscape(kv.substr(0, eq)) + "\":\"" + JsonEscape(kv.substr(eq + 1)) + "\"";
    }
    std::string when;
    if (!duration.empty()) {
      const double s = ParseDuration(duration);
      if (s <= 0) {
        std::fprintf(stderr, "dctwinctl: --for \"%s\" is not a duration (2h, 90m, 1h30m, 45s)\n", duration.c_str());
        return kExitUsage;
      }
      when = "\"duration_s\":" + std::to_string(s);
    } else if (until > 0) {
      when = "\"ends_at\":" + std::to_string(until);
    } else {
      std::fprintf(stderr, "dctwinctl: give --for DURATION or --until TIME\n");
      return kExitUsage;
    }
    topic = c.prefix + "/command/silence";
    payload = "{\"matchers\":{" + m + "}," + when + ",\"created_by\":\"" + JsonEscape(by) + "\",\"comment\":\"" +
              JsonEscape(comment) + "\",\"maintenance\":" + (maintenance ? "true" : "false") + "}";
  } else if (*ls) {
    topic = c.prefix + "/query/silences";
  } else if (*expire) {
    topic = c.prefix + "/command/silence/expire";
    payload = "{\"id\":\"" + JsonEscape(silence_id) + "\"}";
  } else if (*ack) {
    topic = c.prefix + "/command/ack";
    payload = "{\"incident\":\"" + JsonEscape(incident_id) + "\",\"by\":\"" + JsonEscape(by) + "\",\"comment\":\"" +
              JsonEscape(comment) + "\"}";
  } else if (*racks) {
    topic = c.prefix + "/query/unhealthy-racks";
  } else if (*server) {
    topic = c.prefix + "/query/server/" + server_id;
  } else if (*twin) {
    topic = c.prefix + "/query/twin/" + twin_id;
  } else if (*set) {
    std::string keys;
    for (const std::string& kv : assignments) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == kv.size()) {
        std::fprintf(stderr, "dctwinctl: \"%s\" must be KEY=VALUE (e.g. drain=true, power_cap_w=350)\n", kv.c_str());
        return kExitUsage;
      }
      if (!keys.empty()) keys += ",";
      keys += "\"" + JsonEscape(kv.substr(0, eq)) + "\":" + ValueJson(kv.substr(eq + 1));
    }
    const bool rack = target.rfind("rack=", 0) == 0;
    topic = c.prefix + "/command/desired";
    payload = std::string("{\"") + (rack ? "rack" : "server") + "\":\"" + JsonEscape(rack ? target.substr(5) : target) +
              "\",\"set\":{" + keys + "},\"by\":\"" + JsonEscape(by) + "\",\"comment\":\"" + JsonEscape(comment) + "\"" +
              (expect_version >= 0 ? ",\"version\":" + std::to_string(expect_version) : "") +
              (dry_run ? ",\"dry_run\":true" : "") + "}";
  }

  std::string error;
  const std::optional<std::string> answer = Ask(c, topic, payload, &error);
  if (!answer) {
    std::fprintf(stderr, "dctwinctl: %s\n", error.c_str());
    return kExitNoAnswer;
  }
  simdjson::dom::element doc;
  const int rc = Check(*answer, &doc);
  if (json) {
    std::printf("%s\n", answer->c_str());
    return rc;
  }
  if (rc != 0) return rc;

  if (*add) {
    std::printf("%s\n", Str(doc, "id").c_str());
    const std::string muted = Join(doc, "matches");
    if (!muted.empty()) std::fprintf(stderr, "mutes now: %s\n", muted.c_str());
  } else if (*ls) {
    std::vector<std::vector<std::string>> rows{
        {"ID", "STATE", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "MAINTENANCE", "COMMENT"}};
    simdjson::dom::array list;
    if (doc["silences"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element s : list) {
        std::string m;
        simdjson::dom::object o;
        if (s["matchers"].get_object().get(o) == simdjson::SUCCESS) {
          for (auto f : o) {
            std::string_view v;
            if (f.value.get_string().get(v) != simdjson::SUCCESS) continue;
            if (!m.empty()) m += " ";
            m += std::string(f.key) + "=" + std::string(v);
          }
        }
        rows.push_back({Str(s, "id"), Str(s, "state"), m, Time(Num(s, "starts_at")), Time(Num(s, "ends_at")),
                        Str(s, "created_by"), Flag(s, "maintenance") ? "yes" : "no", Str(s, "comment")});
      }
    }
    PrintTable(rows);
  } else if (*expire || *ack) {
    std::printf("ok\n");
  } else if (*racks) {
    std::vector<std::vector<std::string>> rows{{"RACK", "SEVERITY", "SINCE", "KINDS"}};
    simdjson::dom::array list;
    if (doc["racks"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element r : list) {
        rows.push_back({Str(r, "rack"), Str(r, "severity"), Age(Num(r, "since")), Join(r, "kinds")});
      }
    }
    if (rows.size() == 1) {
      std::printf("every rack of %s is healthy\n", Str(doc, "datacenter").c_str());
    } else {
      PrintTable(rows);
    }
  } else if (*report) {
    std::vector<std::vector<std::string>> rows{{"LEVEL", "SUBJECT", "AVAILABILITY", "CRITICAL", "WARNING", "MAINTENANCE",
                                                "INCIDENTS", "MTTA", "MTTR", "BY KIND"}};
    simdjson::dom::array list;
    if (doc["rows"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element r : list) {
        char availability[32];
        std::snprintf(availability, sizeof availability, "%.3f%%", 100 * Num(r, "availability"));
        std::string kinds;
        simdjson::dom::object o;
        if (r["by_kind"].get_object().get(o) == simdjson::SUCCESS) {
          for (auto f : o) {
            int64_t n = 0;
            if (f.value.get_int64().get(n) != simdjson::SUCCESS) continue;
            kinds += std::string(kinds.empty() ? "" : " ") + std::string(f.key) + "=" + std::to_string(n);
          }
        }
        auto mean = [&](const char* key) {
          double v = 0;
          return r[key].get_double().get(v) == simdjson::SUCCESS ? Seconds(v) : std::string("-");
        };
        rows.push_back({Str(r, "level"), Str(r, "subject"), availability, Seconds(Num(r, "critical_s")),
                        Seconds(Num(r, "warning_s")), Seconds(Num(r, "maintenance_s")),
                        std::to_string(static_cast<long long>(Num(r, "incidents"))), mean("mtta_s"), mean("mttr_s"),
                        kinds.empty() ? "-" : kinds});
      }
    }
    std::printf("from %s to %s\n", Time(Num(doc, "since")).c_str(), Time(Num(doc, "until")).c_str());
    if (rows.size() == 1) {
      std::printf("nothing to report in that period\n");
    } else {
      PrintTable(rows);
    }
  } else if (*server) {
    std::printf("server %s  rack %s  status %s  last report %s ago\n", Str(doc, "server").c_str(),
                Str(doc, "rack").c_str(), Str(doc, "status").c_str(), Age(Num(doc, "last_report")).c_str());
    std::vector<std::vector<std::string>> open{{"INCIDENT", "KIND", "SEVERITY", "AGE", "SUMMARY"}};
    simdjson::dom::array list;
    if (doc["open"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element i : list) {
        open.push_back({Str(i, "id"), Str(i, "kind"), Str(i, "severity"), Age(Num(i, "opened_at")), Str(i, "summary")});
      }
    }
    if (open.size() > 1) PrintTable(open);
    std::vector<std::vector<std::string>> rows{{"METRIC", "LAST", "MIN", "MAX", "MEAN", "SAMPLES"}};
    simdjson::dom::object metrics;
    if (doc["metrics"].get_object().get(metrics) == simdjson::SUCCESS) {
      auto fmt = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
      };
      for (auto m : metrics) {
        rows.push_back({std::string(m.key), fmt(Num(m.value, "last")), fmt(Num(m.value, "min")),
                        fmt(Num(m.value, "max")), fmt(Num(m.value, "mean")),
                        std::to_string(static_cast<long long>(Num(m.value, "samples")))});
      }
    }
    PrintTable(rows);
    PrintForesight(doc);
  } else if (*set) {
    std::vector<std::vector<std::string>> rows{{"SERVER", dry_run ? "WOULD BE VERSION" : "VERSION"}};
    simdjson::dom::array list;
    if (doc["servers"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element e : list) {
        rows.push_back({Str(e, "server"), std::to_string(static_cast<long long>(Num(e, "version")))});
      }
    }
    PrintTable(rows);
    simdjson::dom::element i;
    if (dry_run && doc["interlocks"].get(i) == simdjson::SUCCESS) {
      std::printf("dry run, nothing changed: rack %s has %lld of %lld servers drained (at most %lld), the site %lld of %lld (at most %lld)\n",
                  Str(i, "rack").c_str(), static_cast<long long>(Num(i, "rack_drained")),
                  static_cast<long long>(Num(i, "rack_servers")), static_cast<long long>(Num(i, "rack_drained_allowed")),
                  static_cast<long long>(Num(i, "site_drained")), static_cast<long long>(Num(i, "site_servers")),
                  static_cast<long long>(Num(i, "site_drained_allowed")));
    }
  } else if (*twin) {
    std::printf("server %s  rack %s  state %s  version %lld  reported version %lld\n", Str(doc, "server").c_str(),
                Str(doc, "rack").c_str(), Str(doc, "state").c_str(), static_cast<long long>(Num(doc, "version")),
                static_cast<long long>(Num(doc, "reported_version")));
    if (!Str(doc, "by").empty()) {
      std::printf("last change %s ago by %s%s\n", Age(Num(doc, "changed_at")).c_str(), Str(doc, "by").c_str(),
                  Str(doc, "comment").empty() ? "" : (": " + Str(doc, "comment")).c_str());
    }
    if (!Str(doc, "ad").empty()) std::printf("server says (%lld): %s\n", static_cast<long long>(Num(doc, "ac")), Str(doc, "ad").c_str());
    std::map<std::string, std::vector<std::string>> keys;  // key -> desired, reported, differs
    for (const char* which : {"desired", "reported", "delta"}) {
      simdjson::dom::object o;
      if (doc[which].get_object().get(o) != simdjson::SUCCESS) continue;
      for (auto f : o) {
        std::vector<std::string>& row = keys[std::string(f.key)];
        row.resize(3, "-");
        const std::string text = simdjson::minify(f.value);
        if (std::strcmp(which, "desired") == 0) row[0] = text;
        if (std::strcmp(which, "reported") == 0) row[1] = text;
        if (std::strcmp(which, "delta") == 0) row[2] = "yes";
      }
    }
    std::vector<std::vector<std::string>> rows{{"KEY", "DESIRED", "REPORTED", "PENDING"}};
    for (auto& [key, row] : keys) rows.push_back({key, row[0], row[1], row[2] == "yes" ? "yes" : "no"});
    if (rows.size() > 1) PrintTable(rows);
  }
  return 0;
}
