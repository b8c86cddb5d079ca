// Nagle's algorithm off for this process's connections to the broker.
//
// MQTT sends small packets that wait for nothing: with Nagle on, a packet written while an
// earlier one is unacknowledged waits for the broker's delayed ACK, up to 40 ms on Linux. Paho C
// 1.3.12 (Debian 12) has no option for TCP_NODELAY (it came in 1.3.13,
// eclipse-paho/paho.mqtt.c#1417), so after each connect the link finds its own sockets to the
// broker and sets it.
//
// Threads: any (reads /proc/self, touches only sockets to the broker); the link calls it after a connect.
#pragma once

#include <string>

namespace dctwin {

// Sets TCP_NODELAY on every TCP socket of this process whose peer is port `port` of the broker
// in `uri` (tcp://, mqtt://, ssl:// or mqtts://host:port). Returns how many sockets it set.
int SetTcpNoDelayToBroker(const std::string& uri);

}  // namespace dctwin
