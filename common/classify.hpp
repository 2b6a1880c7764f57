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

// On a listener that also speaks HTTP (`goh`): whether plaintext (or decrypted) bytes
// start an HTTP request line, `METHOD SP /` for one of the methods of RFC 9110 and PATCH,
// or a Gopher selector. gophernicus uses the same convention: a selector does not start
// with `GET /`. Decided once the bytes stop being a prefix of every method's `METHOD /`,
// so at most eight bytes are needed; a later byte never changes the verdict.
enum class plain_kind
{
    need_more, // a prefix of some `METHOD /`
    gopher,
    http,
};

plain_kind classify_plain(std::span<std::uint8_t const> bytes) noexcept;

} // namespace got
