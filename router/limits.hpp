// Admission limits (`limits:`): connections per client address and the TLS
// handshake rate. The global connection cap is checked by the accept loop against
// the live-session count.
//
// Per-address counts live in a striped table: a short lock on one of 64 stripes at
// accept and at close, never during I/O. The handshake rate is a token bucket per
// event loop (each gets rate / loops), so taking a token is lock-free.
#pragma once

#include "common/metrics.hpp"

#include <array>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace got {

class per_address_counts
{
public:
    // Counts one more connection from `addr`; false (and no count) when it already
    // has `limit` (0: no limit).
    bool try_acquire(boost::asio::ip::address const& addr, unsigned limit);
    void release(boost::asio::ip::address const& addr);

private:
    // An address as 16 bytes, IPv4 in its IPv4-mapped form (so a client counts once
    // whether it came over an IPv4 or a dual-stack socket); no string, no allocation.
    using key = std::array<unsigned char, 16>;
    struct key_hash
    {
        std::size_t operator()(key const& k) const noexcept;
    };
    struct stripe
    {
        std::mutex mutex;
        std::unordered_map<key, unsigned, key_hash> counts;
    };
    static key key_of(boost::asio::ip::address const& a);
    stripe& stripe_of(key const& k);
    std::array<stripe, 64> stripes_;
};

per_address_counts& address_counts();

// One token per TLS handshake, refilled at `per_second / loops` for this thread's
// event loop. `per_second` 0: always true.
bool take_handshake_token(unsigned per_second, unsigned loops);

// Counts a hit in got_router_limit_hits_total{limit} and logs `message` at most once
// a second per kind (limit hits come in floods).
void log_limit_hit(limit_kind kind, std::string const& message);

} // namespace got
