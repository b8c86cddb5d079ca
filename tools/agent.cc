// dctwin-agent: the reference server-side agent of the twin's desired state (contract v3,
// "Control"). It subscribes to the retained P/control/<server>, runs one hook per key to change,
// `<hooks-dir>/<key> <value>` (exit 0: applied, 3: refused, anything else or past --hook-timeout:
// failed), and reports on P/reported/<server> what it did: the version it acted on, its current
// values, and an acknowledgement code (202 while the hooks run, then 200, 400 or 500) with a
// detail. At start it applies the whole retained desired state once (the server may have been
// re-imaged or rebooted), and it repeats its report every --interval seconds.
//
// Exit status: 0 stopped by SIGTERM/SIGINT; 2 bad usage; 3 the broker could not be reached at
// start.

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <mqtt/async_client.h>

#include "base/json_writer.h"

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitNoBroker = 3;
constexpr int kHookRefused = 3;

std::atomic<bool> g_stop{false};
std::mutex g_mu;
std::condition_variable g_cv;

void OnSignal(int) { g_stop.store(true); }  // the main loop looks at least once a second

void Log(const std::string& line) {
  std::fprintf(stderr, "dctwin-agent: %s\n", line.c_str());
  std::fflush(stderr);
}

// A desired or reported value, kept as the JSON text that represents it.
struct Value {
  std::string json;  // 350, true, "max"
  std::string arg;   // what the hook gets: 350, true, max
  bool operator==(const Value& o) const { return json == o.json; }
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  dctwin::JsonWriter::AppendEscaped(out, s);
  return out + "\"";
}

std::optional<Value> ToValue(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::BOOL:
      return Value{bool(e.get_bool()) ? "true" : "false", bool(e.get_bool()) ? "true" : "false"};
    case simdjson::dom::element_type::STRING: {
      std::string s(std::string_view(e.get_string()));
      return Value{Quote(s), s};
    }
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE: {
      double d = 0;
      if (e.get_double().get(d)) return std::nullopt;
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.15g", d);
      return Value{buf, buf};
    }
    default:
      return std::nullopt;
  }
}

struct Desired {
  uint64_t version = 0;
  std::map<std::string, Value> desired;
  std::map<std::string, Value> delta;
};

bool ParseControl(const std::string& payload, Desired* out) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(payload).get_object().get(o)) return false;
  int64_t v = 0;
  if (o["version"].get_int64().get(v) || v < 0) return false;
  out->version = static_cast<uint64_t>(v);
  for (const char* which : {"desired", "delta"}) {
    simdjson::dom::object m;
    if (o[which].get_object().get(m)) continue;
    for (auto field : m) {
      std::optional<Value> value = ToValue(field.value);
      if (value) (std::strcmp(which, "desired") == 0 ? out->desired : out->delta)[std::string(field.key)] = *value;
    }
  }
  return true;
}

bool ValidKey(const std::string& key) {
  if (key.empty() || key.size() > 64 || key[0] == '.') return false;
  for (char c : key) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

struct HookResult {
  enum class Kind { kApplied, kRefused, kFailed } kind = Kind::kFailed;
  std::string detail;
};

// Runs `<dir>/<key> <value>`, its output (first 200 bytes) as the detail, killed past `timeout_s`.
HookResult RunHook(const std::string& dir, const std::string& key, const std::string& value, double timeout_s) {
  const std::string path = dir + "/" + key;
  if (!ValidKey(key)) return {HookResult::Kind::kRefused, "not a key this agent handles"};
  if (access(path.c_str(), X_OK) != 0) return {HookResult::Kind::kRefused, "no hook " + path};
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return {HookResult::Kind::kFailed, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) {
    close(out[0]);
    close(out[1]);
    return {HookResult::Kind::kFailed, std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    setpgid(0, 0);
    execl(path.c_str(), path.c_str(), value.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{out[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[512];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // the hook closed its output (it ended)
    if (text.size() < 200) text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  if (timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  } else {
    // The output ended; the hook may still be finishing.
    for (int i = 0; i < 100 * static_cast<int>(std::ceil(timeout_s)); ++i) {
      if (waitpid(pid, &status, WNOHANG) == pid) goto done;
      usleep(10000);
    }
    timed_out = true;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  waitpid(pid, &status, 0);
done:
  if (text.size() > 200) text.resize(200);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (timed_out) return {HookResult::Kind::kFailed, "timed out after " + std::to_string(static_cast<int>(timeout_s)) + " s"};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {HookResult::Kind::kApplied, text};
  if (WIFEXITED(status) && WEXITSTATUS(status) == kHookRefused) return {HookResult::Kind::kRefused, text};
  std::string why = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                      : "signal " + std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return {HookResult::Kind::kFailed, text.empty() ? why : why + ": " + text};
}

class Agent {
 public:
  struct Options {
    std::string server;
    std::string broker = "tcp://127.0.0.1:1883";
    std::string prefix = "dctwin";
    std::string hooks_dir = "/etc/dctwin/agent.d";
    std::string username, password;
    double hook_timeout_s = 30;
    double interval_s = 60;
  };

  explicit Agent(Options o)
      : o_(std::move(o)), client_(o_.broker, "dctwin-agent-" + o_.server, mqtt::create_options(MQTTVERSION_5)) {}

  int Run() {
    const std::string control = o_.prefix + "/control/" + o_.server;
    client_.set_message_callback([this](mqtt::const_message_ptr msg) {
      std::lock_guard<std::mutex> lock(g_mu);
      latest_ = msg->get_payload_str();
      g_cv.notify_all();
    });
    client_.set_connected_handler([this, control](const std::string&) {
      try {
        client_.subscribe(control, 1);
      } catch (const mqtt::exception& e) {
        Log(std::string("subscribe: ") + e.what());
      }
    });
    auto opts = mqtt::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(true)
                    .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(30))
                    .connect_timeout(std::chrono::seconds(10))
                    .finalize();
    if (!o_.username.empty()) {
      opts.set_user_name(o_.username);
      opts.set_password(o_.password);
    }
    try {
      if (!client_.connect(opts)->wait_for(std::chrono::seconds(15))) {
        Log("cannot connect to " + o_.broker);
        return kExitNoBroker;
      }
    } catch (const mqtt::exception& e) {
      Log("cannot connect to " + o_.broker + ": " + e.what());
      return kExitNoBroker;
    }
    Log("server " + o_.server + ": following " + control + ", hooks in " + o_.hooks_dir);
    auto next_report = std::chrono::steady_clock::now() + Interval();
    while (!g_stop.load()) {
      std::optional<std::string> work;
      {
        std::unique_lock<std::mutex> lock(g_mu);
        g_cv.wait_until(lock, std::min(next_report, std::chrono::steady_clock::now() + std::chrono::seconds(1)),
                        [this] { return latest_.has_value() || g_stop.load(); });
        work.swap(latest_);
      }
      if (g_stop.load()) break;
      if (work) {
        Act(*work);
        next_report = std::chrono::steady_clock::now() + Interval();
      } else if (o_.interval_s > 0 && std::chrono::steady_clock::now() >= next_report && acted_) {
        Report(last_ac_, last_ad_);
        next_report = std::chrono::steady_clock::now() + Interval();
      }
    }
    try {
      client_.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
    Log("stopped");
    return 0;
  }

 private:
  std::chrono::milliseconds Interval() const {
    return std::chrono::milliseconds(static_cast<long long>((o_.interval_s > 0 ? o_.interval_s : 3600) * 1000));
  }

  void Act(const std::string& payload) {
    Desired d;
    if (payload.empty()) return;  // the server was decommissioned: nothing to do
    if (!ParseControl(payload, &d)) {
      Log("ignoring a control message that is not {\"version\", \"desired\", \"delta\"}: " + payload.substr(0, 200));
      return;
    }
    // At start the whole desired state is applied once; afterwards what differs from it.
    std::map<std::string, Value> todo;
    if (!acted_) {
      todo = d.desired;
    } else {
      for (const auto& [key, value] : d.desired) {
        auto r = reported_.find(key);
        if (r == reported_.end() || !(r->second == value)) todo[key] = value;
      }
    }
    version_ = d.version;
    acted_ = true;
    if (todo.empty()) {
      Report(200, "");
      return;
    }
    Report(202, "applying " + std::to_string(todo.size()) + " key(s)");
    int refused = 0, failed = 0;
    std::string detail;
    for (const auto& [key, value] : todo) {
      HookResult r = RunHook(o_.hooks_dir, key, value.arg, o_.hook_timeout_s);
      const char* what = r.kind == HookResult::Kind::kApplied ? "applied" : r.kind == HookResult::Kind::kRefused ? "refused" : "failed";
      Log(key + "=" + value.arg + ": " + what + (r.detail.empty() ? "" : " (" + r.detail + ")"));
      if (r.kind == HookResult::Kind::kApplied) {
        reported_[key] = value;
        continue;
      }
      ++(r.kind == HookResult::Kind::kRefused ? refused : failed);
      if (!detail.empty()) detail += "; ";
      detail += key + " " + what + (r.detail.empty() ? "" : ": " + r.detail);
    }
    Report(failed > 0 ? 500 : refused > 0 ? 400 : 200, detail);
  }

  void Report(int ac, const std::string& ad) {
    last_ac_ = ac;
    last_ad_ = ad;
    std::string reported = "{";
    for (const auto& [key, value] : reported_) {
      if (reported.size() > 1) reported += ',';
      reported += Quote(key) + ":" + value.json;
    }
    reported += "}";
    const std::string payload = "{\"version\":" + std::to_string(version_) + ",\"reported\":" + reported +
                                ",\"ac\":" + std::to_string(ac) + ",\"ad\":" + Quote(ad) + "}";
    try {
      client_.publish(mqtt::make_message(o_.prefix + "/reported/" + o_.server, payload, 1, false))
          ->wait_for(std::chrono::seconds(10));
    } catch (const mqtt::exception& e) {
      Log(std::string("report not sent: ") + e.what());
    }
  }

  const Options o_;
  mqtt::async_client client_;
  std::optional<std::string> latest_;  // guarded by g_mu
  std::map<std::string, Value> reported_;
  uint64_t version_ = 0;
  bool acted_ = false;
  int last_ac_ = 200;
  std::string last_ad_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-agent: applies a server's desired state from its dctwin twin with hook scripts"};
  Agent::Options o;
  app.add_option("--server", o.server, "this server's id (as commissioned)")->required()->envname("DCTWIN_SERVER");
  app.add_option("--broker", o.broker, "MQTT broker URI")->capture_default_str()->envname("DCTWIN_BROKER");
  app.add_option("--prefix", o.prefix, "topic prefix")->capture_default_str();
  app.add_option("--hooks-dir", o.hooks_dir, "one executable per key: <dir>/<key> <value>")->capture_default_str();
  app.add_option("--hook-timeout", o.hook_timeout_s, "seconds a hook may run before it counts as failed")
      ->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  app.add_option("--interval", o.interval_s, "seconds between repeated reports (0: only on change)")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--username", o.username, "broker username")->envname("DCTWIN_USERNAME");
  app.add_option("--password", o.password, "broker password (better: DCTWIN_PASSWORD)")->envname("DCTWIN_PASSWORD");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (!ValidKey(o.server)) {
    Log("--server must match [A-Za-z0-9._-]{1,64}");
    return kExitUsage;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  Agent agent(o);
  return agent.Run();
}
