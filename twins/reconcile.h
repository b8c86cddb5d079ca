// After a restore, before the first message: the messages that bring the racks and the
// datacenter in line with the committed server twins.
//
// Each twin's row is committed on its own: a crash from an older gateway (or a lost row) can
// leave a rack that lists a server which is gone or moved, or a member incident its server no
// longer has, and a datacenter that lists a rack which is gone. Nothing else would ever correct
// that, so a correlated incident would never resolve. The servers are the truth: ghosts leave,
// stale members are told again, and the datacenter hears each rack's present status.
//
// Pure: reads the registries, returns envelopes for the caller to post.
#pragma once

#include <string>
#include <vector>

#include "twins/messages.h"
#include "twins/twin_registry.h"

namespace dctwin {

// `owners`: every registry of the gateway. `with_datacenter`: the datacenter's racks are all
// held here (standalone; a site's racks live in the pods).
std::vector<Envelope> ReconcileMembership(const std::vector<const TwinRegistry*>& owners, const std::string& datacenter,
                                          bool with_datacenter, double now);
// The part of it that concerns the twins `owner` holds (one of `owners`): its racks' member
// lists, its servers, and the datacenter if it holds it. The parts of different owners may be
// computed on different threads (they only read).
std::vector<Envelope> ReconcileMembershipOf(const TwinRegistry& owner, const std::vector<const TwinRegistry*>& owners,
                                            const std::string& datacenter, bool with_datacenter, double now);

}  // namespace dctwin
