#include "config/inventory.h"

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.h"

namespace dctwin {

namespace {

// A string or a number, as text (row and position may be either).
bool Text(simdjson::dom::element e, std::string* out) {
  std::string_view s;
  if (!e.get_string().get(s)) {
    *out = std::string(s);
    return true;
  }
  int64_t i = 0;
  if (!e.get_int64().get(i)) {
    *out = std::to_string(i);
    return true;
  }
  double d = 0;
  if (!e.get_double().get(d)) {
    std::ostringstream o;
    o << d;
    *out = o.str();
    return true;
  }
  return false;
}

}  // namespace

bool ParseInventory(std::string_view json, const std::string& source, Inventory* out, std::vector<std::string>* problems) {
  const size_t before = problems->size();
  simdjson::dom::parser parser;
  simdjson::dom::object doc;
  if (auto err = parser.parse(json.data(), json.size()).get_object().get(doc); err) {
    problems->push_back(source + ": not a JSON object (" + std::string(simdjson::error_message(err)) + ")");
    return false;
  }
  Inventory inv;
  std::set<std::string> racks, servers;
  simdjson::dom::array list;
  if (doc["racks"].get_array().get(list)) {
    problems->push_back(source + ": \"racks\" must be an array of racks");
  } else {
    size_t i = 0;
    for (simdjson::dom::element e : list) {
      const std::string where = source + ": racks[" + std::to_string(i++) + "]";
      simdjson::dom::object o;
      if (e.get_object().get(o)) {
        problems->push_back(where + " must be an object");
        continue;
      }
      InventoryRack r;
      simdjson::dom::element v;
      if (o["name"].get(v) || !Text(v, &r.name) || !IsValidId(r.name)) {
        problems->push_back(where + ": \"name\" is required and must match [A-Za-z0-9._-]{1,64}");
        continue;
      }
      const std::string named = where + " (" + r.name + ")";
      if (!racks.insert(r.name).second) problems->push_back(named + ": rack " + r.name + " is listed twice");
      if (!o["row"].get(v) && !Text(v, &r.row)) problems->push_back(named + ": \"row\" must be a number or a string");
      if (!o["position"].get(v) && !Text(v, &r.position)) {
        problems->push_back(named + ": \"position\" must be a number or a string");
      }
      simdjson::dom::array feeds;
      if (!o["feeds"].get(v)) {
        if (v.get_array().get(feeds)) {
          problems->push_back(named + ": \"feeds\" must be an array of feed names");
        } else {
          for (simdjson::dom::element f : feeds) {
            std::string name;
            if (!Text(f, &name) || !IsValidId(name)) {
              problems->push_back(named + ": every feed must be a name matching [A-Za-z0-9._-]{1,64}");
            } else {
              r.feeds.push_back(name);
            }
          }
        }
      }
      for (auto [key, field] : {std::pair<const char*, std::string*>{"cooling", &r.cooling}, {"tor", &r.tor}}) {
        if (o[key].get(v) || v.is_null()) continue;
        if (!Text(v, field) || !IsValidId(*field)) {
          problems->push_back(named + ": \"" + key + "\" must be a name matching [A-Za-z0-9._-]{1,64}");
        }
      }
      inv.racks.push_back(std::move(r));
    }
  }
  if (doc["servers"].get_array().get(list)) {
    problems->push_back(source + ": \"servers\" must be an array of servers");
  } else {
    size_t i = 0;
    for (simdjson::dom::element e : list) {
      const std::string where = source + ": servers[" + std::to_string(i++) + "]";
      simdjson::dom::object o;
      if (e.get_object().get(o)) {
        problems->push_back(where + " must be an object");
        continue;
      }
      InventoryServer s;
      simdjson::dom::element v;
      if (o["name"].get(v) || !Text(v, &s.name) || !IsValidId(s.name)) {
        problems->push_back(where + ": \"name\" is required and must match [A-Za-z0-9._-]{1,64}");
        continue;
      }
      const std::string named = where + " (" + s.name + ")";
      if (!servers.insert(s.name).second) problems->push_back(named + ": server " + s.name + " is listed twice");
      if (o["rack"].get(v) || !Text(v, &s.rack) || s.rack.empty()) {
        problems->push_back(named + ": \"rack\" is required");
      } else if (racks.count(s.rack) == 0) {
        problems->push_back(named + ": rack " + s.rack + " is not listed in \"racks\"");
      }
      int64_t u = 0;
      if (!o["position_u"].get(v) && !v.is_null()) {
        if (v.get_int64().get(u) || u < 0 || u > 100) {
          problems->push_back(named + ": \"position_u\" must be a whole number from 0 to 100");
        }
      }
      s.position_u = static_cast<int>(u);
      inv.servers.push_back(std::move(s));
    }
  }
  if (problems->size() != before) return false;
  *out = std::move(inv);
  return true;
}

std::shared_ptr<const Topology> BuildTopology(const Inventory& inventory) {
  auto t = std::make_shared<Topology>();
  for (const InventoryRack& r : inventory.racks) {
    for (const std::string& f : r.feeds) t->Add("feed:" + f, r.name);
    if (!r.cooling.empty()) t->Add("cooling:" + r.cooling, r.name);
    if (!r.tor.empty()) t->Add("tor:" + r.tor, r.name);
  }
  return t;
}

bool LoadInventory(const std::string& path, const std::string& token, Inventory* out,
                   std::vector<std::string>* problems) {
  std::error_code ec;
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 || std::filesystem::is_directory(path, ec)) {
    return LoadNetboxInventory(path, token, out, problems);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problems->push_back(path + ": cannot be read");
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseInventory(text.str(), path, out, problems);
}

}  // namespace dctwin
