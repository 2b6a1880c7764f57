// The two ClientHello extension bodies got-router reads itself, as plain functions over
// bytes. OpenSSL parses the ClientHello and hands the raw extension bodies over
// (SSL_client_hello_get0_ext); these read the names out of them. Client bytes: both
// are bounded by the body, never read past it, and have a fuzz target.
//
// scan_client_hello reads the same two extensions from a connection's first bytes,
// before any SSL object exists: a listener with passthrough routes uses it to pass a
// connection on without OpenSSL. It is strict where OpenSSL is (record and message
// framing, field lengths, an extension list that fills the message, no extension
// twice) and answers `other` for anything it does not accept; the caller then leaves
// the bytes to OpenSSL, which decides as before. It has its own fuzz target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace got {

// The host_name entry of a server_name extension body (RFC 6066 section 3), normalised
// (sni::normalise); empty when there is none or the list is malformed.
std::string hello_server_name(std::span<std::uint8_t const> body);

// The protocol names of an ALPN extension body (RFC 7301 section 3.1), in the client's
// order; a malformed list ends at its last whole name.
std::vector<std::string> hello_alpn_protocols(std::span<std::uint8_t const> body);

enum class hello_scan
{
    need_more, // a well-formed start: the ClientHello is not all there yet
    complete,  // the whole ClientHello is there and well-formed
    other,     // not a well-formed ClientHello (or larger than max_size): OpenSSL's to judge
};

struct client_hello_scan
{
    hello_scan status = hello_scan::need_more;
    // With `complete`: what the extension functions above read from the ClientHello's
    // server_name and ALPN extensions (empty when absent).
    std::string server_name;
    std::vector<std::string> alpn;
};

// Scans the TLS records at the start of `bytes` (handshake records, possibly several for
// one ClientHello) for a whole ClientHello no larger than `max_size`, record headers
// included. Bytes after it are not looked at.
client_hello_scan scan_client_hello(std::span<std::uint8_t const> bytes, std::size_t max_size);

} // namespace got
