// A token bucket per client address (`limits.new_connections_per_ip`), in a table whose
// size is fixed when it is made: a flood from many addresses cannot grow it.
//
// The table is set-associative: an address hashes (with a per-process random seed, so a
// client cannot aim at another's set) to one set of `ways` entries. A new address takes a
// free entry of its set, else one whose bucket has refilled to the burst (it holds nothing
// a fresh bucket would not), else the entry used longest ago (an eviction: that address
// starts again with a full bucket when it comes back, so under a flood from more
// addresses than the table holds, the limit is enforced on the addresses seen recently).
//
// Shared by every event loop: each set is guarded by one of `stripe_count` mutexes, held
// for a lookup of `ways` entries and never across I/O. The clock is a parameter, so tests
// drive time by hand.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace got {

class client_rate_table
{
public:
    using clock = std::chrono::steady_clock;
    // The client address in IPv6 form; an IPv4 address as `::ffff:a.b.c.d`.
    using address_key = std::array<std::uint8_t, 16>;

    static constexpr std::size_t ways = 8;
    static constexpr std::size_t default_capacity = 65536;

    // `capacity` is rounded up to a whole number of sets; `seed` 0 picks a random one.
    explicit client_rate_table(std::size_t capacity = default_capacity, std::uint64_t seed = 0);

    // Takes one token from `client`'s bucket at `now`, after refilling it at `per_second`
    // up to `burst` tokens (at least 1). False, taking nothing, when it holds less than one.
    bool try_take(address_key const& client, clock::time_point now, double per_second,
                  double burst);

    std::size_t capacity() const { return set_count_ * ways; }
    // Entries holding an address (an entry, once used, is reused but never emptied).
    std::size_t size() const { return used_.load(std::memory_order_relaxed); }
    // Addresses dropped while their bucket was still below the burst.
    std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

private:
    struct entry
    {
        address_key addr{};
        bool used = false;
        double tokens = 0;
        clock::time_point last{};
    };
    static constexpr std::size_t stripe_count = 64;

    std::size_t set_of(address_key const& client) const;
    entry& claim(entry* set, clock::time_point now, double per_second, double burst);

    std::size_t set_count_;
    std::uint64_t seed_;
    std::unique_ptr<entry[]> entries_;
    mutable std::array<std::mutex, stripe_count> stripes_;
    std::atomic<std::size_t> used_{0};
    std::atomic<std::uint64_t> evictions_{0};
};

// The process-wide table, made on first use (only when the limit is configured).
client_rate_table& new_connection_rates();
// That table when it has been made, else nullptr (for /metrics, which must not make it).
client_rate_table const* new_connection_rates_if_made();

} // namespace got
