// Fuzz target: a connection's first bytes as the passthrough scan reads them
// (scan_client_hello, common/client_hello_ext.hpp). Checks: never a read past the input
// (ASan); a complete ClientHello's server name is normalised and no longer than the
// input, its ALPN names are non-empty and fit in it; and the verdict does not depend on
// the cap once the cap is the whole input (what lies past the ClientHello is not read).
#include "common/client_hello_ext.hpp"
#include "common/sni.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_client_hello.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::span<std::uint8_t const> bytes(data, size);
    constexpr std::size_t cap = 16 * 1024 + 5;
    auto r = got::scan_client_hello(bytes, cap);
    if (r.status == got::hello_scan::complete) {
        FUZZ_CHECK(r.server_name.size() <= size);
        FUZZ_CHECK(got::sni::normalise(r.server_name) == r.server_name);
        std::size_t total = 0;
        for (auto const& p : r.alpn) {
            FUZZ_CHECK(!p.empty() && p.size() <= 255);
            total += 1 + p.size();
        }
        FUZZ_CHECK(total <= size);
    }
    if (size <= cap) {
        auto wide = got::scan_client_hello(bytes, size);
        auto wider = got::scan_client_hello(bytes, 4 * cap);
        FUZZ_CHECK(wide.status == wider.status || wide.status == got::hello_scan::other);
        FUZZ_CHECK(wide.status != got::hello_scan::complete ||
                   (wider.server_name == wide.server_name && wider.alpn == wide.alpn));
    }
    return 0;
}
