// The first-bytes decision of a connection on a shared port: TLS, plaintext Gopher,
// or bytes that start like TLS but are no ClientHello we take. A plain function over
// bytes (no I/O): the session reads until it is decided, tests and the classifier
// fuzz target drive it byte by byte.
//
// TLS: a handshake record (0x16, version 3.x, non-empty) whose payload starts a
// ClientHello (1). The hello's length is not checked against the record: a large or
// re-framed ClientHello spans several records, which OpenSSL reassembles. A selector
// never starts with 0x16; 0x80 (an SSLv2-style hello) is never one either, so both are
// refused when they are not a ClientHello rather than handed to a backend.
#pragma once

#include <cstdint>
#include <span>

namespace got {

enum class first_bytes
{
    need_more, // too few bytes to tell
    tls,       // a TLS ClientHello starts here
    bad_tls,   // starts like TLS (0x16, 0x80) but is not a ClientHello we accept
    plain,     // plaintext Gopher (or anything else that is not TLS)
};

first_bytes classify(std::span<std::uint8_t const> bytes) noexcept;

} // namespace got
