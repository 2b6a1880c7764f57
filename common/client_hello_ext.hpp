// The two ClientHello extension bodies got-router reads itself, as plain functions over
// bytes. OpenSSL parses the ClientHello and hands the raw extension bodies over
// (SSL_client_hello_get0_ext); these read the names out of them. Client bytes: both
// are bounded by the body, never read past it, and have a fuzz target.
#pragma once

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

} // namespace got
