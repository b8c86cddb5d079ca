// The inventory from NetBox's REST API pages (dcim/racks, dcim/devices, dcim/power-feeds): read
// from a folder of saved pages or from the API itself, turned into the contract's inventory
// document and checked like any other (config/inventory.h says how NetBox's objects map).
#include <httplib.h>
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "base/json_writer.h"
#include "config/inventory.h"

namespace dctwin {

namespace {

struct NetboxRack {
  std::string name, row, position, cooling;
};
struct NetboxDevice {
  std::string name, rack, role;
  int position_u = 0;
};
struct NetboxData {
  std::vector<NetboxRack> racks;
  std::vector<NetboxDevice> devices;
  std::map<std::string, std::vector<std::string>> feeds;  // rack -> feed names
};

constexpr const char* kEndpoints[] = {"dcim/racks", "dcim/devices", "dcim/power-feeds"};
constexpr size_t kMaxPages = 10000;

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (!e[key].get_string().get(s)) return std::string(s);
  int64_t i = 0;
  if (!e[key].get_int64().get(i)) return std::to_string(i);
  return std::string();
}

// The name of a nested object ({"id", "name", ...}), or of the object `e` itself.
std::string NameOf(simdjson::dom::element e, const char* key) {
  simdjson::dom::element o;
  if (e[key].get(o) || o.is_null()) return std::string();
  return Str(o, "name");
}

std::string Custom(simdjson::dom::element e, const char* key) {
  simdjson::dom::element cf;
  if (e["custom_fields"].get(cf) || cf.is_null()) return std::string();
  return Str(cf, key);
}

// What a device is, by its role's slug or name: a top-of-rack switch, a server, or neither (a
// PDU, a patch panel, a router: not the gateway's to watch).
// The role is read word by word ("access-switch", "ToR switch", "storage_server"): a word inside
// another ("tor" in "storage") does not count.
enum class DeviceKind { kSwitch, kServer, kOther };
DeviceKind KindOfRole(const std::string& role) {
  std::vector<std::string> words(1);
  for (char c : role) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      words.back() += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!words.back().empty()) {
      words.emplace_back();
    }
  }
  auto has = [&](std::initializer_list<const char*> any) {
    return std::any_of(words.begin(), words.end(), [&](const std::string& w) {
      return std::any_of(any.begin(), any.end(), [&](const char* a) { return w == a; });
    });
  };
  if (role.empty()) return DeviceKind::kServer;
  if (has({"tor", "leaf", "switch"})) return DeviceKind::kSwitch;
  if (has({"server", "servers", "compute", "storage", "host", "node"})) return DeviceKind::kServer;
  return DeviceKind::kOther;
}

// Adds the results of one page of `endpoint`; *next: the next page's URL (empty: none).
bool AddPage(std::string_view endpoint, const std::string& json, const std::string& where, NetboxData* data,
             std::string* next, std::vector<std::string>* problems) {
  simdjson::dom::parser parser;
  simdjson::dom::element page;
  simdjson::dom::array results;
  if (parser.parse(json).get(page) || page["results"].get_array().get(results)) {
    problems->push_back(where + ": not a NetBox API page ({\"count\", \"next\", \"results\": [...]})");
    return false;
  }
  next->clear();
  std::string_view n;
  if (!page["next"].get_string().get(n)) *next = std::string(n);
  size_t i = 0;
  for (simdjson::dom::element o : results) {
    const std::string at = where + ": results[" + std::to_string(i++) + "]";
    if (endpoint == "dcim/racks") {
      NetboxRack r{Str(o, "name"), Custom(o, "row"), Custom(o, "position"), Custom(o, "cooling")};
      if (r.row.empty()) r.row = NameOf(o, "location");
      data->racks.push_back(std::move(r));
    } else if (endpoint == "dcim/devices") {
      NetboxDevice d{Str(o, "name"), NameOf(o, "rack"), NameOf(o, "role"), 0};
      if (d.role.empty()) d.role = NameOf(o, "device_role");  // NetBox before 3.6
      simdjson::dom::element role;
      if (!o["role"].get(role) && !role.is_null() && !Str(role, "slug").empty()) d.role = Str(role, "slug");
      double u = 0;
      if (!o["position"].get_double().get(u) && u > 0) d.position_u = static_cast<int>(u);
      data->devices.push_back(std::move(d));
    } else {
      // What trips together is the panel: its feeds to several racks are one group. A feed with
      // no panel is a group of its own name.
      const std::string rack = NameOf(o, "rack");
      std::string name = NameOf(o, "power_panel");
      if (name.empty()) name = Str(o, "name");
      if (name.empty()) {
        problems->push_back(at + ": a power feed without a name or panel");
      } else if (!rack.empty()) {  // a feed assigned to no rack feeds none the gateway knows
        std::vector<std::string>& feeds = data->feeds[rack];
        if (std::find(feeds.begin(), feeds.end(), name) == feeds.end()) feeds.push_back(name);
      }
    }
  }
  return true;
}

// The contract's inventory document: racks with their feeds, cooling unit and switch; servers.
std::string InventoryJson(const NetboxData& data, std::vector<std::string>* problems) {
  std::map<std::string, std::string> tor;  // rack -> its switch
  for (const NetboxDevice& d : data.devices) {
    if (KindOfRole(d.role) != DeviceKind::kSwitch || d.rack.empty() || d.name.empty()) continue;
    auto [it, fresh] = tor.emplace(d.rack, d.name);
    if (!fresh && it->second != d.name) {
      problems->push_back("rack " + d.rack + " has two switches (" + it->second + ", " + d.name +
                          "): give the ToR switch a role of its own");
    }
  }
  JsonWriter w;
  w.BeginObject().Key("racks").BeginArray();
  for (const NetboxRack& r : data.racks) {
    w.BeginObject().Field("name", r.name).Field("row", r.row).Field("position", r.position);
    w.Key("feeds").BeginArray();
    if (auto f = data.feeds.find(r.name); f != data.feeds.end()) {
      for (const std::string& feed : f->second) w.String(feed);
    }
    w.EndArray();
    if (!r.cooling.empty()) w.Field("cooling", r.cooling);
    if (auto t = tor.find(r.name); t != tor.end()) w.Field("tor", t->second);
    w.EndObject();
  }
  w.EndArray().Key("servers").BeginArray();
  for (const NetboxDevice& d : data.devices) {
    if (KindOfRole(d.role) != DeviceKind::kServer || d.rack.empty()) continue;  // unracked: not on the floor
    w.BeginObject().Field("name", d.name).Field("rack", d.rack).IntField("position_u", d.position_u).EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

// Which endpoint a saved page belongs to, by its file name: racks*.json, devices*.json,
// power-feeds*.json (a "dcim-" or "dcim_" before it is fine).
std::string EndpointOfFile(std::string name) {
  for (const char* p : {"dcim-", "dcim_"}) {
    if (name.rfind(p, 0) == 0) name = name.substr(5);
  }
  if (name.rfind("racks", 0) == 0) return "dcim/racks";
  if (name.rfind("devices", 0) == 0) return "dcim/devices";
  if (name.rfind("power-feeds", 0) == 0 || name.rfind("power_feeds", 0) == 0) return "dcim/power-feeds";
  return std::string();
}

bool ReadFolder(const std::string& dir, NetboxData* data, std::vector<std::string>* problems) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  if (ec) {
    problems->push_back(dir + ": cannot be read (" + ec.message() + ")");
    return false;
  }
  std::sort(files.begin(), files.end());
  std::set<std::string> seen;
  const size_t before = problems->size();
  for (const auto& file : files) {
    const std::string endpoint = EndpointOfFile(file.filename().string());
    if (endpoint.empty()) continue;  // another file: not a page
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string next;
    if (!in) {
      problems->push_back(file.string() + ": cannot be read");
    } else if (AddPage(endpoint, text.str(), file.string(), data, &next, problems)) {
      seen.insert(endpoint);
    }
  }
  for (const char* e : kEndpoints) {
    if (seen.count(e) == 0 && problems->size() == before) {
      problems->push_back(dir + ": no page of " + std::string(e) + " (a file " + std::string(e).substr(5) + "*.json)");
    }
  }
  return problems->size() == before;
}

// "http://host:port/api/..." -> ("http://host:port", "/api/...").
bool SplitUrl(const std::string& url, std::string* origin, std::string* path) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return false;
  const size_t slash = url.find('/', scheme + 3);
  *origin = url.substr(0, slash);
  *path = slash == std::string::npos ? "/" : url.substr(slash);
  return true;
}

bool ReadApi(const std::string& base, const std::string& token, NetboxData* data, std::vector<std::string>* problems) {
  const std::string root = base.back() == '/' ? base : base + "/";
  const size_t before = problems->size();
  for (const char* endpoint : kEndpoints) {
    std::string url = root + endpoint + "/?limit=1000";
    for (size_t page = 0; !url.empty(); ++page) {
      std::string origin, path;
      if (page >= kMaxPages || !SplitUrl(url, &origin, &path)) {
        problems->push_back(url + ": " + (page >= kMaxPages ? "more than 10000 pages" : "not a URL"));
        break;
      }
      httplib::Client client(origin);
      client.set_connection_timeout(10);
      client.set_read_timeout(30);
      httplib::Headers headers{{"Accept", "application/json"}};
      if (!token.empty()) headers.emplace("Authorization", "Token " + token);
      auto res = client.Get(path, headers);
      if (!res) {
        problems->push_back("GET " + url + ": " + httplib::to_string(res.error()));
        break;
      }
      if (res->status != 200) {
        problems->push_back("GET " + url + ": HTTP " + std::to_string(res->status) +
                            (res->status == 401 || res->status == 403 ? " (is gateway.inventory_token right?)" : ""));
        break;
      }
      if (!AddPage(endpoint, res->body, "GET " + url, data, &url, problems)) break;
    }
  }
  return problems->size() == before;
}

}  // namespace

bool LoadNetboxInventory(const std::string& source, const std::string& token, Inventory* out,
                         std::vector<std::string>* problems) {
  NetboxData data;
  const bool url = source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
  if (!(url ? ReadApi(source, token, &data, problems) : ReadFolder(source, &data, problems))) return false;
  const size_t before = problems->size();
  const std::string json = InventoryJson(data, problems);
  if (problems->size() != before) return false;
  return ParseInventory(json, source + " (NetBox)", out, problems);
}

}  // namespace dctwin
