// Choosing a backend: sans-io, over a snapshot of each candidate's state, so the
// policies are table-tested without sockets.
//
// Eligible: up, under its max_connections, not already tried by this connection.
// Primaries first; backups only when no primary is eligible.
#pragma once

#include "config.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace got {

struct candidate_view
{
    unsigned weight = 1;
    bool backup = false;
    bool up = true;
    std::int64_t active = 0;
    unsigned max_connections = 0; // 0: no limit
    std::uint64_t id_hash = 0;    // stable hash of the backend's identity (source_hash)
};

// A smooth weighted round-robin order (nginx's algorithm) over `weights`: each index
// i appears weights[i] times, spread out, e.g. {5,1,1} -> 0 0 1 0 2 0 0. Scaled down
// (by the gcd) and capped to keep it short.
std::vector<std::uint16_t> smooth_weighted_schedule(std::span<unsigned const> weights);

struct pick_request
{
    balance_policy policy = balance_policy::round_robin;
    std::uint64_t ticket = 0;   // round_robin: a counter shared by all connections
    std::uint64_t random_a = 0; // random: two random numbers
    std::uint64_t random_b = 0;
    std::uint64_t client_hash = 0;           // source_hash: hash of the client address
    std::span<std::uint16_t const> schedule; // round_robin: from smooth_weighted_schedule
    std::uint64_t tried_mask = 0;            // candidates this connection already tried (first 64)
};

// Index of the chosen candidate, or -1 when none is eligible.
int pick_backend(std::span<candidate_view const> candidates, pick_request const& req);

// 64-bit FNV-1a, for identities and client addresses.
std::uint64_t stable_hash(void const* data, std::size_t size, std::uint64_t seed = 0);

} // namespace got
