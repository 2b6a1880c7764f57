#include "balancer.hpp"

#include <array>
#include <numeric>

namespace got {

std::uint64_t stable_hash(void const* data, std::size_t size, std::uint64_t seed)
{
    auto const* p = static_cast<unsigned char const*>(data);
    std::uint64_t h = 1469598103934665603ULL ^ seed;
    for (std::size_t i = 0; i < size; ++i) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

std::vector<std::uint16_t> smooth_weighted_schedule(std::span<unsigned const> weights)
{
    std::vector<std::uint16_t> out;
    if (weights.empty())
        return out;
    unsigned g = 0;
    for (unsigned w : weights)
        g = std::gcd(g, std::max(1u, w));
    std::vector<long> weight(weights.size()), current(weights.size(), 0);
    long total = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
        weight[i] = std::max(1u, weights[i]) / g;
        total += weight[i];
    }
    // Cap the cycle: beyond 4096 slots the proportions are already exact enough.
    long length = std::min<long>(total, 4096);
    out.reserve(static_cast<std::size_t>(length));
    for (long n = 0; n < length; ++n) {
        std::size_t best = 0;
        for (std::size_t i = 0; i < weight.size(); ++i) {
            current[i] += weight[i];
            if (current[i] > current[best])
                best = i;
        }
        current[best] -= total;
        out.push_back(static_cast<std::uint16_t>(best));
    }
    return out;
}

namespace {

bool eligible(candidate_view const& c, std::size_t index, std::uint64_t tried_mask, bool backup)
{
    if (c.backup != backup || !c.up)
        return false;
    if (c.max_connections && c.active >= static_cast<std::int64_t>(c.max_connections))
        return false;
    return index >= 64 || !(tried_mask >> index & 1);
}

// Load relative to weight, compared without division: a.active/a.w < b.active/b.w.
bool less_loaded(candidate_view const& a, candidate_view const& b)
{
    return a.active * static_cast<std::int64_t>(b.weight) <
           b.active * static_cast<std::int64_t>(a.weight);
}

int pick_in_tier(std::span<candidate_view const> cs, pick_request const& req, bool backup)
{
    // Fixed storage: this runs for every new connection, so no allocation. A route
    // has at most 64 candidates (runtime refuses more).
    std::array<int, 64> eligible_storage;
    std::size_t count = 0;
    for (std::size_t i = 0; i < cs.size() && count < eligible_storage.size(); ++i)
        if (eligible(cs[i], i, req.tried_mask, backup))
            eligible_storage[count++] = static_cast<int>(i);
    std::span<int const> ok(eligible_storage.data(), count);
    if (ok.empty())
        return -1;

    switch (req.policy) {
    case balance_policy::round_robin: {
        // Walk the smooth schedule from this connection's ticket to the first eligible.
        auto const& s = req.schedule;
        if (!s.empty() && !backup) {
            for (std::size_t step = 0; step < s.size(); ++step) {
                auto idx = s[(req.ticket + step) % s.size()];
                if (idx < cs.size() && eligible(cs[idx], idx, req.tried_mask, backup))
                    return idx;
            }
        }
        return ok[req.ticket % ok.size()];
    }
    case balance_policy::least_connections: {
        int best = ok.front();
        for (int i : ok)
            if (less_loaded(cs[static_cast<std::size_t>(i)], cs[static_cast<std::size_t>(best)]))
                best = i;
        return best;
    }
    case balance_policy::random: {
        // Power of two choices: two at random, the less loaded one.
        int a = ok[req.random_a % ok.size()];
        int b = ok[req.random_b % ok.size()];
        return less_loaded(cs[static_cast<std::size_t>(b)], cs[static_cast<std::size_t>(a)]) ? b
                                                                                             : a;
    }
    case balance_policy::source_hash: {
        // Rendezvous hashing: the highest score wins; stable while the set is, and
        // only the clients of a backend that leaves move.
        int best = -1;
        std::uint64_t best_score = 0;
        for (int i : ok) {
            auto const& c = cs[static_cast<std::size_t>(i)];
            std::uint64_t mix = req.client_hash ^ c.id_hash;
            std::uint64_t score = stable_hash(&mix, sizeof mix) / std::max(1u, c.weight) * c.weight;
            if (best < 0 || score > best_score) {
                best = i;
                best_score = score;
            }
        }
        return best;
    }
    case balance_policy::count_:
        break;
    }
    return ok.front();
}

} // namespace

int pick_backend(std::span<candidate_view const> candidates, pick_request const& req)
{
    int i = pick_in_tier(candidates, req, false);
    return i >= 0 ? i : pick_in_tier(candidates, req, true);
}

} // namespace got
