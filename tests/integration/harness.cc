#include "tests/integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace dctwin::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/dctwin-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(const std::string& name, const std::string& text) const {
  const std::string p = File(name);
  std::ofstream(p) << text;
  return p;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("bind to a free loopback port failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

static bool PortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);  // polling interval, not a wait for an outcome
  }
  return true;
}

static pid_t Spawn(const std::vector<std::string>& argv, const std::string& log,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

static int WaitPid(pid_t pid, std::chrono::milliseconds timeout) {
  int status = 0;
  const bool done = WaitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

Mosquitto::Mosquitto(const TempDir& dir, bool persistent, std::string extra)
    : dir_(dir), persistent_(persistent), extra_(std::move(extra)) {}
Mosquitto::~Mosquitto() { Stop(); }

std::string ShippedBrokerLimits() {
  std::istringstream lines(ReadFile(std::string(DCTWIN_SOURCE_DIR) + "/config/mosquitto/dctwin.conf"));
  std::string out;
  for (std::string line; std::getline(lines, line);) {
    for (const char* key : {"set_tcp_nodelay ", "max_queued_messages ", "max_queued_bytes ", "max_inflight_messages ",
                            "queue_qos0_messages ", "sys_interval "}) {
      if (line.rfind(key, 0) == 0) out += line + "\n";
    }
  }
  return out;
}

bool Mosquitto::Launch() {
  // The shipped broker's limits (config/mosquitto/dctwin.conf), as a site runs it; `extra` may
  // override them.
  std::string conf = "listener " + std::to_string(port_) + " 127.0.0.1\nallow_anonymous true\n" + ShippedBrokerLimits();
  if (persistent_) {
    // Run as root, mosquitto drops to its own user: give it a directory it can write.
    const std::string data = dir_.File("mosquitto-data");
    std::filesystem::create_directories(data);
    std::filesystem::permissions(data, std::filesystem::perms::all);
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::others_exec |
                                                  std::filesystem::perms::group_exec);
    conf += "persistence true\npersistence_location " + data + "/\n";
  } else {
    conf += "persistence false\n";
  }
  conf += extra_;
  const std::string path = dir_.Write("mosquitto.conf", conf);
  pid_ = Spawn({"mosquitto", "-c", path}, dir_.File("mosquitto.log"));
  return WaitUntil([&] { return PortAccepts(port_); }, 10s);
}

void Mosquitto::Start() {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = FreeLoopbackPort();
    if (Launch()) return;
    Stop();  // the port was taken between our probe and mosquitto's bind: try another
  }
  throw std::runtime_error("mosquitto did not start; see " + dir_.File("mosquitto.log"));
}

void Mosquitto::Restart() {
  Stop();
  StartAgain();
}

void Mosquitto::StartAgain() {
  // The old socket may linger briefly; mosquitto sets SO_REUSEADDR, so a few tries suffice.
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (Launch()) return;
    Stop();
  }
  throw std::runtime_error("mosquitto did not restart on port " + std::to_string(port_));
}

void Mosquitto::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  WaitPid(pid_, 10s);
  pid_ = -1;
}

GatewayProcess::GatewayProcess(const TempDir& dir, std::vector<std::string> args)
    : args_(std::move(args)), log_(dir.File("gateway.log")) {}
GatewayProcess::~GatewayProcess() { Kill(); }

void GatewayProcess::Start() {
  std::vector<std::string> argv{DCTWIN_GATEWAY_BINARY};
  argv.insert(argv.end(), args_.begin(), args_.end());
  pid_ = Spawn(argv, log_, env_);
}

int GatewayProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const int rc = WaitPid(pid_, timeout);
  pid_ = -1;
  if (rc > 128) {
    // Died of a signal instead of stopping: the end of its log holds the stack it wrote
    // (base/fatal_signal.h), which a failed test should show whatever it prints itself.
    const std::string log = ReadFile(log_);
    const size_t from = log.size() > 8000 ? log.size() - 8000 : 0;
    std::fprintf(stderr, "the gateway died of signal %d on SIGTERM; the end of its log:\n%s\n", rc - 128,
                 log.substr(from).c_str());
  }
  return rc;
}

void GatewayProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitPid(pid_, 10s);
  pid_ = -1;
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log)
    : argv_(std::move(argv)), log_(std::move(log)) {}
ChildProcess::~ChildProcess() { Stop(); }
void ChildProcess::Start() { pid_ = Spawn(argv_, log_); }
void ChildProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

void ChildProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  WaitPid(pid_, 10s);
  pid_ = -1;
}

Probe::Probe(const std::string& uri, const std::string& client_id, bool persistent)
    : client_(uri, client_id, mqtt::create_options(MQTTVERSION_5)) {
  client_.set_message_callback([this](mqtt::const_message_ptr m) {
    std::lock_guard<std::mutex> lock(mu_);
    received_.push_back(Received{m->get_topic(), m->get_payload_str(), m->get_qos(), m->is_retained()});
    cv_.notify_all();
  });
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_start(!persistent);
  if (persistent) {
    mqtt::properties props;
    props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 600));
    opts.set_properties(props);
  }
  client_.connect(opts)->wait_for(10s);
  if (!client_.is_connected()) throw std::runtime_error("probe could not connect to " + uri);
}

Probe::~Probe() {
  try {
    client_.disconnect()->wait_for(5s);
  } catch (const mqtt::exception&) {
  }
}

void Probe::Subscribe(const std::string& filter, int qos) { client_.subscribe(filter, qos)->wait_for(10s); }

void Probe::Publish(const std::string& topic, const std::string& payload, int qos, bool retained) {
  client_.publish(topic, payload.data(), payload.size(), qos, retained)->wait_for(10s);
}

void Probe::PublishPipelined(const std::string& topic, const std::string& payload, bool retained) {
  while (pending_.size() >= 16) {
    pending_.front()->wait_for(10s);
    pending_.pop_front();
  }
  pending_.push_back(client_.publish(topic, payload.data(), payload.size(), 1, retained));
}

void Probe::Drain() {
  for (auto& t : pending_) t->wait_for(10s);
  pending_.clear();
}

std::optional<Received> Probe::WaitFor(const std::function<bool(const Received&)>& match,
                                       std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<Received> found;
  size_t checked = 0;  // each wake looks only at what arrived since: a busy topic stays linear
  cv_.wait_for(lock, timeout, [&] {
    for (; checked < received_.size(); ++checked) {
      if (match(received_[checked])) {
        found = received_[checked];
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<Received> Probe::All(const std::function<bool(const Received&)>& match) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Received> out;
  for (const auto& r : received_) {
    if (match(r)) out.push_back(r);
  }
  return out;
}

void Probe::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  received_.clear();
}

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int rc = pclose(pipe);
  if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

static simdjson::dom::element ParseJson(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) throw std::runtime_error("not JSON: " + json);
  return doc;
}

std::string JsonString(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  std::string_view v;
  if (ParseJson(parser, json)[key].get(v)) return "";
  return std::string(v);
}

double JsonNumber(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  double v = 0;
  if (ParseJson(parser, json)[key].get(v)) return -1;
  return v;
}

bool JsonHas(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  return ParseJson(parser, json)[key].error() == simdjson::SUCCESS;
}

}  // namespace dctwin::testing
