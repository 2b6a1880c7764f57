// Fuzz target: the server_name and ALPN extension bodies as the ClientHello callback
// gets them from OpenSSL (common/client_hello_ext.hpp). Checks: never a read past the
// body (ASan), a server name no longer than the body and already normalised, ALPN names
// that are non-empty, in order, and together no longer than the body.
#include "common/client_hello_ext.hpp"
#include "common/sni.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_client_hello_ext.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::span<std::uint8_t const> body(data, size);
    auto name = got::hello_server_name(body);
    FUZZ_CHECK(name.size() <= size);
    FUZZ_CHECK(got::sni::normalise(name) == name);

    auto protocols = got::hello_alpn_protocols(body);
    std::size_t total = 2;
    for (auto const& p : protocols) {
        FUZZ_CHECK(!p.empty() && p.size() <= 255);
        total += 1 + p.size();
    }
    FUZZ_CHECK(protocols.empty() || total <= size);
    return 0;
}
