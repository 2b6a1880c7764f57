#include "proxy_protocol.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>

namespace got {

namespace {

using bytes_view = std::span<std::uint8_t const>;

constexpr std::string_view v1_signature = "PROXY ";
constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t v2_fixed_size = 16; // signature, version/command, family, length
constexpr std::size_t tlv_header_size = 3;
constexpr std::size_t ssl_tlv_fixed_size = 5; // client, verify

proxy_parse_result need_more()
{
    return {};
}

proxy_parse_result invalid(std::string_view reason)
{
    proxy_parse_result r;
    r.status = proxy_parse_status::invalid;
    r.reason = reason;
    return r;
}

proxy_parse_result done(proxy_header h, std::size_t consumed)
{
    proxy_parse_result r;
    r.status = proxy_parse_status::done;
    r.header = std::move(h);
    r.consumed = consumed;
    return r;
}

std::uint16_t load_u16(bytes_view b)
{
    return static_cast<std::uint16_t>((b[0] << 8) | b[1]);
}

std::uint32_t load_u32(bytes_view b)
{
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
           std::uint32_t{b[3]};
}

void store_u16(std::string& out, std::size_t v)
{
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
}

void store_u32(std::string& out, std::uint32_t v)
{
    store_u16(out, v >> 16);
    store_u16(out, v & 0xFFFF);
}

std::string as_string(bytes_view b)
{
    return {reinterpret_cast<char const*>(b.data()), b.size()};
}

// ---------------------------------------------------------------------------------------
// CRC32C (Castagnoli, reflected 0x82F63B78), as PP2_TYPE_CRC32C uses it.

constexpr std::array<std::uint32_t, 256> make_crc32c_table()
{
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        t[i] = c;
    }
    return t;
}

constexpr auto crc32c_table = make_crc32c_table();

std::uint32_t crc32c_update(std::uint32_t state, bytes_view data)
{
    for (auto b : data)
        state = crc32c_table[(state ^ b) & 0xFF] ^ (state >> 8);
    return state;
}

// ---------------------------------------------------------------------------------------
// Addresses

struct family_code
{
    std::uint8_t byte;
    proxy_family family;
    std::size_t address_size; // the v2 address block
};

constexpr family_code family_codes[] = {
    {0x00, proxy_family::unspec, 0},       {0x11, proxy_family::tcp4, 12},
    {0x12, proxy_family::udp4, 12},        {0x21, proxy_family::tcp6, 36},
    {0x22, proxy_family::udp6, 36},        {0x31, proxy_family::unix_stream, 216},
    {0x32, proxy_family::unix_dgram, 216},
};

family_code const* family_by_byte(std::uint8_t b)
{
    for (auto const& f : family_codes)
        if (f.byte == b)
            return &f;
    return nullptr;
}

family_code const& family_by_value(proxy_family family)
{
    for (auto const& f : family_codes)
        if (f.family == family)
            return f;
    return family_codes[0];
}

bool is_inet4(proxy_family f)
{
    return f == proxy_family::tcp4 || f == proxy_family::udp4;
}
bool is_inet6(proxy_family f)
{
    return f == proxy_family::tcp6 || f == proxy_family::udp6;
}

bool parse_address(std::string_view text, proxy_family family, std::array<std::uint8_t, 16>& out)
{
    char buf[INET6_ADDRSTRLEN];
    if (text.size() >= sizeof(buf))
        return false;
    std::copy(text.begin(), text.end(), buf);
    buf[text.size()] = '\0';
    out = {};
    return ::inet_pton(is_inet4(family) ? AF_INET : AF_INET6, buf, out.data()) == 1;
}

std::optional<std::uint16_t> parse_port(std::string_view text)
{
    if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0'))
        return std::nullopt;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > 65535)
        return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// ---------------------------------------------------------------------------------------
// v1: one text line

bool is_protocol_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
bool is_v4_char(char c)
{
    return is_digit(c) || c == '.';
}
bool is_v6_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

constexpr std::string_view v1_protocols[] = {"TCP4", "TCP6", "UNKNOWN"};

bool starts_a_protocol(std::string_view partial)
{
    return std::any_of(std::begin(v1_protocols), std::end(v1_protocols),
                       [&](std::string_view p) { return p.starts_with(partial); });
}

enum class scan
{
    ok,
    need_more,
    invalid,
};

// Reads the v1 line left to right. A field still open at the end of the bytes is only
// checked for its characters and length, so every prefix of a valid line reads as
// `need_more`, and a verdict reached on a prefix is the one the whole line gets.
class v1_reader
{
public:
    explicit v1_reader(bytes_view bytes)
        : text_(reinterpret_cast<char const*>(bytes.data()),
                std::min(bytes.size(), max_proxy_v1_line))
        , at_limit_(bytes.size() >= max_proxy_v1_line)
        , pos_(v1_signature.size())
    {}

    struct field
    {
        scan status = scan::need_more;
        std::string_view text; // so far, when need_more
        char end = 0;          // ' ' or '\r', when ok
    };

    // At most `max_len` bytes satisfying `allowed`, ended (and followed) by a space or CR.
    field next_field(std::size_t max_len, bool (*allowed)(char))
    {
        std::size_t start = pos_;
        for (; pos_ < text_.size(); ++pos_) {
            char c = text_[pos_];
            if (c == ' ' || c == '\r') {
                auto text = text_.substr(start, pos_ - start);
                ++pos_;
                if (text.empty())
                    return fail(c == ' ' ? "v1 empty field (double space?)" : "v1 line ends early");
                return {scan::ok, text, c};
            }
            if (c == '\n')
                return fail("v1 LF without CR");
            if (!allowed(c))
                return fail("v1 unexpected character");
            if (pos_ - start >= max_len)
                return fail("v1 field too long");
        }
        return {scan::need_more, text_.substr(start), 0};
    }

    // What follows `PROXY UNKNOWN `: anything but a bare LF, up to and including the CR.
    scan skip_to_cr()
    {
        for (; pos_ < text_.size(); ++pos_) {
            if (text_[pos_] == '\r') {
                ++pos_;
                return scan::ok;
            }
            if (text_[pos_] == '\n') {
                reason_ = "v1 LF without CR";
                return scan::invalid;
            }
        }
        return scan::need_more;
    }

    scan line_feed()
    {
        if (pos_ == text_.size())
            return scan::need_more;
        if (text_[pos_] != '\n') {
            reason_ = "v1 CR not followed by LF";
            return scan::invalid;
        }
        ++pos_;
        return scan::ok;
    }

    // The verdict for a step that did not succeed.
    proxy_parse_result stop(scan s, std::string_view reason = {}) const
    {
        if (s == scan::invalid)
            return invalid(reason.empty() ? reason_ : reason);
        // Out of bytes: the line may go on, unless it is already as long as allowed.
        return at_limit_ ? invalid("v1 line longer than 107 bytes") : need_more();
    }

    std::size_t pos() const { return pos_; }

private:
    field fail(std::string_view reason)
    {
        reason_ = reason;
        return {scan::invalid, {}, 0};
    }

    std::string_view text_;
    bool at_limit_;
    std::size_t pos_;
    std::string_view reason_;
};

proxy_parse_result parse_v1(bytes_view bytes)
{
    v1_reader in(bytes);
    auto protocol = in.next_field(7, is_protocol_char);
    if (protocol.status == scan::need_more && !starts_a_protocol(protocol.text))
        return invalid("v1 unknown protocol");
    if (protocol.status != scan::ok)
        return in.stop(protocol.status);

    proxy_header h;
    h.version = 1;
    if (protocol.text == "UNKNOWN") {
        // The spec: the receiver ignores whatever follows UNKNOWN on the line.
        h.command = proxy_command::local;
        h.family = proxy_family::unspec;
        if (protocol.end == ' ')
            if (auto s = in.skip_to_cr(); s != scan::ok)
                return in.stop(s);
        if (auto s = in.line_feed(); s != scan::ok)
            return in.stop(s);
        return done(std::move(h), in.pos());
    }
    if (protocol.text != "TCP4" && protocol.text != "TCP6")
        return invalid("v1 unknown protocol");
    if (protocol.end != ' ')
        return invalid("v1 line ends early");
    h.command = proxy_command::proxy;
    h.family = protocol.text == "TCP4" ? proxy_family::tcp4 : proxy_family::tcp6;
    bool v4 = h.family == proxy_family::tcp4;

    auto src = in.next_field(v4 ? 15 : INET6_ADDRSTRLEN - 1, v4 ? is_v4_char : is_v6_char);
    if (src.status != scan::ok)
        return in.stop(src.status);
    if (src.end != ' ')
        return invalid("v1 line ends early");
    if (!parse_address(src.text, h.family, h.source_address))
        return invalid("v1 bad source address");

    auto dst = in.next_field(v4 ? 15 : INET6_ADDRSTRLEN - 1, v4 ? is_v4_char : is_v6_char);
    if (dst.status != scan::ok)
        return in.stop(dst.status);
    if (dst.end != ' ')
        return invalid("v1 line ends early");
    if (!parse_address(dst.text, h.family, h.destination_address))
        return invalid("v1 bad destination address");

    auto sport = in.next_field(5, is_digit);
    if (sport.status != scan::ok)
        return in.stop(sport.status);
    if (sport.end != ' ')
        return invalid("v1 line ends early");
    auto source_port = parse_port(sport.text);
    if (!source_port)
        return invalid("v1 bad source port");
    h.source_port = *source_port;

    auto dport = in.next_field(5, is_digit);
    if (dport.status != scan::ok)
        return in.stop(dport.status);
    if (dport.end != '\r')
        return invalid("v1 extra field after the destination port");
    auto destination_port = parse_port(dport.text);
    if (!destination_port)
        return invalid("v1 bad destination port");
    h.destination_port = *destination_port;

    if (auto s = in.line_feed(); s != scan::ok)
        return in.stop(s);
    return done(std::move(h), in.pos());
}

// ---------------------------------------------------------------------------------------
// v2: fixed header, address block, TLVs

// Walks `block` as TLVs, counting each against `count`; `on_tlv(type, value)` returns a
// reason to stop, or an empty view.
template <class OnTlv>
std::string_view for_each_tlv(bytes_view block, std::size_t& count, OnTlv on_tlv)
{
    while (!block.empty()) {
        if (block.size() < tlv_header_size)
            return "v2 TLV header truncated";
        std::size_t len = load_u16(block.subspan(1, 2));
        if (len > block.size() - tlv_header_size)
            return "v2 TLV longer than the space left";
        if (++count > max_proxy_tlvs)
            return "v2 too many TLVs";
        if (auto reason = on_tlv(block[0], block.subspan(tlv_header_size, len)); !reason.empty())
            return reason;
        block = block.subspan(tlv_header_size + len);
    }
    return {};
}

class v2_tlv_reader
{
public:
    v2_tlv_reader(bytes_view whole, proxy_header& h)
        : whole_(whole)
        , h_(h)
    {}

    std::string_view read(bytes_view block)
    {
        return for_each_tlv(block, count_, [this](std::uint8_t type, bytes_view value) {
            return one(type, value);
        });
    }

private:
    static std::string_view set_once(std::optional<std::string>& field, bytes_view value,
                                     std::string_view duplicate)
    {
        if (field)
            return duplicate;
        field = as_string(value);
        return {};
    }

    std::string_view one(std::uint8_t type, bytes_view value)
    {
        switch (type) {
        case proxy_tlv_type::alpn:
            return set_once(h_.alpn, value, "v2 duplicate ALPN TLV");
        case proxy_tlv_type::authority:
            return set_once(h_.authority, value, "v2 duplicate authority TLV");
        case proxy_tlv_type::unique_id:
            if (value.size() > max_proxy_unique_id)
                return "v2 unique id longer than 128 bytes";
            return set_once(h_.unique_id, value, "v2 duplicate unique id TLV");
        case proxy_tlv_type::crc32c:
            return check_crc(value);
        case proxy_tlv_type::noop:
            return {};
        case proxy_tlv_type::ssl:
            return read_ssl(value);
        default:
            h_.other_tlvs.push_back({type, as_string(value)});
            return {};
        }
    }

    std::string_view check_crc(bytes_view value)
    {
        if (value.size() != 4)
            return "v2 CRC32C TLV is not 4 bytes";
        if (saw_crc_)
            return "v2 duplicate CRC32C TLV";
        saw_crc_ = true;
        // Over the whole header with the checksum itself taken as zero.
        auto offset = static_cast<std::size_t>(value.data() - whole_.data());
        constexpr std::array<std::uint8_t, 4> zero{};
        std::uint32_t state = 0xFFFFFFFFu;
        state = crc32c_update(state, whole_.first(offset));
        state = crc32c_update(state, zero);
        state = crc32c_update(state, whole_.subspan(offset + 4));
        if ((state ^ 0xFFFFFFFFu) != load_u32(value))
            return "v2 CRC32C mismatch";
        return {};
    }

    std::string_view read_ssl(bytes_view value)
    {
        if (h_.ssl)
            return "v2 duplicate SSL TLV";
        if (value.size() < ssl_tlv_fixed_size)
            return "v2 SSL TLV shorter than 5 bytes";
        proxy_ssl_tlv ssl;
        ssl.client = value[0];
        ssl.verify = load_u32(value.subspan(1, 4));
        auto reason = for_each_tlv(
            value.subspan(ssl_tlv_fixed_size), count_, [&ssl](std::uint8_t type, bytes_view sub) {
                if (type != proxy_tlv_type::ssl_version) {
                    ssl.sub_tlvs.push_back({type, as_string(sub)});
                    return std::string_view{};
                }
                return set_once(ssl.version, sub, "v2 duplicate SSL version sub-TLV");
            });
        if (!reason.empty())
            return reason;
        h_.ssl = std::move(ssl);
        return {};
    }

    bytes_view whole_;
    proxy_header& h_;
    std::size_t count_ = 0;
    bool saw_crc_ = false;
};

proxy_parse_result parse_v2(bytes_view bytes)
{
    if (bytes.size() < 13)
        return need_more();
    std::uint8_t version_command = bytes[12];
    if ((version_command >> 4) != 2)
        return invalid("v2 version is not 2");
    if ((version_command & 0x0F) > 1)
        return invalid("v2 unknown command");
    if (bytes.size() < 14)
        return need_more();
    auto const* family = family_by_byte(bytes[13]);
    if (!family)
        return invalid("v2 unknown address family or transport");
    if (bytes.size() < v2_fixed_size)
        return need_more();
    std::size_t len = load_u16(bytes.subspan(14, 2));
    if (v2_fixed_size + len > max_proxy_header_size)
        return invalid("v2 header longer than 4096 bytes");
    if (len < family->address_size)
        return invalid("v2 length too short for the address family");
    if (bytes.size() < v2_fixed_size + len)
        return need_more();

    auto whole = bytes.first(v2_fixed_size + len);
    auto block = whole.subspan(v2_fixed_size);
    proxy_header h;
    h.version = 2;
    h.command = static_cast<proxy_command>(version_command & 0x0F);
    h.family = family->family;
    if (is_inet4(h.family) || is_inet6(h.family)) {
        std::size_t n = is_inet4(h.family) ? 4 : 16;
        std::copy_n(block.begin(), n, h.source_address.begin());
        std::copy_n(block.begin() + static_cast<std::ptrdiff_t>(n), n,
                    h.destination_address.begin());
        h.source_port = load_u16(block.subspan(2 * n, 2));
        h.destination_port = load_u16(block.subspan(2 * n + 2, 2));
    }
    v2_tlv_reader tlvs(whole, h);
    if (auto reason = tlvs.read(block.subspan(family->address_size)); !reason.empty())
        return invalid(reason);
    return done(std::move(h), whole.size());
}

bool has_own_field(std::uint8_t type)
{
    using namespace proxy_tlv_type;
    return type == alpn || type == authority || type == crc32c || type == noop ||
           type == unique_id || type == ssl;
}

// Appends one TLV; false when the value does not fit a TLV's 16-bit length.
bool put_tlv(std::string& out, std::uint8_t type, std::string_view value)
{
    if (value.size() > 0xFFFF)
        return false;
    out.push_back(static_cast<char>(type));
    store_u16(out, value.size());
    out.append(value);
    return true;
}

} // namespace

proxy_parse_result parse_proxy_header(std::span<std::uint8_t const> bytes)
{
    auto n1 = std::min(bytes.size(), v1_signature.size());
    if (std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n1),
                   v1_signature.begin(),
                   [](std::uint8_t b, char c) { return b == static_cast<std::uint8_t>(c); }))
        return bytes.size() < v1_signature.size() ? need_more() : parse_v1(bytes);
    auto n2 = std::min(bytes.size(), v2_signature.size());
    if (std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n2),
                   v2_signature.begin()))
        return bytes.size() < v2_signature.size() ? need_more() : parse_v2(bytes);
    proxy_parse_result r;
    r.status = proxy_parse_status::not_proxy;
    return r;
}

std::string serialize_proxy_v1(proxy_header const& h)
{
    if (!h.has_addresses())
        return "PROXY UNKNOWN\r\n";
    std::string out = h.family == proxy_family::tcp4 ? "PROXY TCP4 " : "PROXY TCP6 ";
    out += format_proxy_address(h.family, h.source_address);
    out += ' ';
    out += format_proxy_address(h.family, h.destination_address);
    out += ' ';
    out += std::to_string(h.source_port);
    out += ' ';
    out += std::to_string(h.destination_port);
    out += "\r\n";
    return out;
}

std::string serialize_proxy_v2(proxy_header const& h)
{
    if (h.unique_id && h.unique_id->size() > max_proxy_unique_id)
        return {};
    auto const& family = family_by_value(h.family);
    std::string out(v2_signature.begin(), v2_signature.end());
    out.push_back(static_cast<char>(0x20 | static_cast<std::uint8_t>(h.command)));
    out.push_back(static_cast<char>(family.byte));
    store_u16(out, 0); // the length, filled in below
    if (is_inet4(h.family) || is_inet6(h.family)) {
        std::size_t n = is_inet4(h.family) ? 4 : 16;
        out.append(reinterpret_cast<char const*>(h.source_address.data()), n);
        out.append(reinterpret_cast<char const*>(h.destination_address.data()), n);
        store_u16(out, h.source_port);
        store_u16(out, h.destination_port);
    } else {
        out.append(family.address_size, '\0'); // unix paths are not kept
    }

    std::size_t count = 0;
    bool fits = true;
    auto put = [&](std::uint8_t type, std::string_view value) {
        fits = fits && put_tlv(out, type, value);
        ++count;
    };
    if (h.alpn)
        put(proxy_tlv_type::alpn, *h.alpn);
    if (h.authority)
        put(proxy_tlv_type::authority, *h.authority);
    if (h.ssl) {
        std::string value;
        value.push_back(static_cast<char>(h.ssl->client));
        store_u32(value, h.ssl->verify);
        if (h.ssl->version) {
            fits = fits && put_tlv(value, proxy_tlv_type::ssl_version, *h.ssl->version);
            ++count;
        }
        for (auto const& sub : h.ssl->sub_tlvs) {
            fits = fits && sub.type != proxy_tlv_type::ssl_version &&
                   put_tlv(value, sub.type, sub.value);
            ++count;
        }
        put(proxy_tlv_type::ssl, value);
    }
    if (h.unique_id)
        put(proxy_tlv_type::unique_id, *h.unique_id);
    for (auto const& tlv : h.other_tlvs) {
        fits = fits && !has_own_field(tlv.type);
        put(tlv.type, tlv.value);
    }
    if (!fits || count > max_proxy_tlvs || out.size() > max_proxy_header_size)
        return {};
    auto len = out.size() - v2_fixed_size;
    out[14] = static_cast<char>((len >> 8) & 0xFF);
    out[15] = static_cast<char>(len & 0xFF);
    return out;
}

std::string format_proxy_address(proxy_family family, std::array<std::uint8_t, 16> const& a)
{
    if (!is_inet4(family) && !is_inet6(family))
        return {};
    char buf[INET6_ADDRSTRLEN] = {};
    if (!::inet_ntop(is_inet4(family) ? AF_INET : AF_INET6, a.data(), buf, sizeof(buf)))
        return {};
    return buf;
}

std::string_view to_string(proxy_parse_status s)
{
    switch (s) {
    case proxy_parse_status::need_more:
        return "need_more";
    case proxy_parse_status::not_proxy:
        return "not_proxy";
    case proxy_parse_status::invalid:
        return "invalid";
    case proxy_parse_status::done:
        return "done";
    }
    return "unknown";
}

} // namespace got
