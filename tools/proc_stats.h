// What /proc says of another process, for the benchmark tools: its CPU time and its memory.
// Linux only. Not thread-safe concerns: each call reads the file afresh.
#pragma once

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace dctwin::tools {

// utime + stime of process `pid`, in seconds; -1 when /proc has no such process.
inline double CpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  // The command name is in parentheses and may hold spaces: the fields count from after it.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A line of /proc/<pid>/status ("VmHWM", "VmRSS") in MiB; 0 when it is not there.
inline double StatusMiB(int pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;
  }
  return 0;
}

}  // namespace dctwin::tools
