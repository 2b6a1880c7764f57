#include "access_log.hpp"

#include "common/log.hpp"

#include <charconv>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>
#include <unordered_map>

namespace got {

std::string endpoint_text(boost::asio::ip::tcp::endpoint const& ep)
{
    auto addr = ep.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
        addr = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6());
    std::string host = addr.to_string();
    if (addr.is_v6())
        host = "[" + host + "]";
    return host + ":" + std::to_string(ep.port());
}

namespace {

template <class Number>
void append_number(std::string& out, Number n)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, end);
}

// The access-log file descriptor for a path, opened once and kept (O_APPEND).
std::mutex fds_mutex;
std::unordered_map<std::string, int> fds;

int access_fd(std::string const& path)
{
    if (path.empty())
        return STDERR_FILENO;
    std::lock_guard lock(fds_mutex);
    auto it = fds.find(path);
    if (it != fds.end())
        return it->second;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        log::error("cannot open access log " + path + "; writing it to stderr");
        fd = STDERR_FILENO;
    }
    fds.emplace(path, fd);
    return fd;
}

} // namespace

void reopen_access_logs()
{
    std::lock_guard lock(fds_mutex);
    for (auto& [path, fd] : fds) {
        if (fd == STDERR_FILENO)
            continue;
        int fresh = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fresh < 0) {
            log::error("cannot reopen access log " + path);
            continue;
        }
        ::dup2(fresh, fd);
        ::close(fresh);
    }
    log::info("access logs reopened");
}

namespace {

// What a line shows: the record, the facts, and the texts made for the line (the
// client's address; the ALPN field, which for a passed-through connection is the list the
// client offered, the backend having chosen, and otherwise the protocol negotiated here).
struct line_fields
{
    access_record const& r;
    connection_facts const& f;
    std::string client;
    std::string_view alpn;
};

// The fields of a line, in order, for both formats: one list, so text and JSON cannot
// drift apart. `text` fields are strings (JSON strings, `-` when empty in text), the
// others numbers.
template <class Visit>
void visit_fields(line_fields const& l, std::int64_t duration_ms, Visit&& visit)
{
    auto const& r = l.r;
    auto const& f = l.f;
    visit("client", std::string_view(l.client));
    visit("listener", r.listener);
    visit("transport", r.transport ? name_of(*r.transport) : std::string_view());
    visit("tls_version", f.tls_version);
    visit("sni", std::string_view(f.sni));
    visit("alpn", l.alpn);
    auto const* cert = f.client_certificate();
    visit("client_subject", cert ? std::string_view(cert->client_subject) : std::string_view());
    visit("client_verify", r.client_verify);
    static routed_record const none;
    auto const& rr = r.routed ? *r.routed : none;
    visit("route", rr.route);
    visit("prefix", rr.prefix);
    visit("backend", rr.backend);
    visit("bytes_in", rr.bytes_in);
    visit("bytes_out", rr.bytes_out);
    visit("duration_ms", duration_ms);
    visit("outcome", outcome_name(r.outcome));
    if (!rr.backend_tls_error.empty())
        visit("backend_tls", std::string_view(rr.backend_tls_error));
    if (rr.http && rr.http->status != 0) {
        visit("method", rr.http->method);
        visit("path", rr.http->path);
        visit("status", rr.http->status);
        visit("url", rr.http->url);
    }
}

struct json_field
{
    std::string& out;
    void operator()(std::string_view key, std::string_view value) const
    {
        start(key);
        log::append_json_string(out, value);
    }
    template <class Number>
    void operator()(std::string_view key, Number n) const
    {
        start(key);
        append_number(out, n);
    }
    void start(std::string_view key) const
    {
        out += ",\"";
        out += key;
        out += "\":";
    }
};

struct text_field
{
    std::string& out;
    void operator()(std::string_view key, std::string_view value) const
    {
        start(key);
        if (value.empty())
            out += '-';
        // A value never breaks the key=value layout: spaces, quotes, backslashes, control
        // and non-ASCII bytes (a certificate subject may hold any) become \xHH.
        for (char c : value) {
            auto b = static_cast<unsigned char>(c);
            if (b > ' ' && b < 0x7f && c != '"' && c != '\\') {
                out += c;
                continue;
            }
            static char const digits[] = "0123456789abcdef";
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 15];
        }
    }
    template <class Number>
    void operator()(std::string_view key, Number n) const
    {
        start(key);
        append_number(out, n);
    }
    void start(std::string_view key) const
    {
        out += ' ';
        out += key;
        out += '=';
    }
};

} // namespace

std::string format_access_record(access_record const& r, connection_facts const& f,
                                 logging_config const& cfg)
{
    std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - r.start)
                          .count();
    std::string offered;
    if (r.transport == transport::tls_passthrough)
        for (auto const& p : f.alpn_offered)
            (offered += offered.empty() ? "" : ",") += p;
    line_fields l{r, f, endpoint_text(f.client),
                  r.transport == transport::tls_passthrough ? offered : f.alpn};
    // One buffer, appended to in place: a line per connection should cost one
    // allocation, not one per field.
    std::string out;
    out.reserve(256 + l.client.size() + f.sni.size() +
                (r.routed ? r.routed->route.size() + r.routed->backend.size() : 0));
    if (cfg.format == log_format::json) {
        out += "{\"time\":\"";
        log::append_timestamp(out);
        out += '"';
        visit_fields(l, ms, json_field{out});
        out += '}';
        return out;
    }
    log::append_timestamp(out);
    out += " access";
    visit_fields(l, ms, text_field{out});
    return out;
}

int access_log_fd(logging_config const& cfg)
{
    if (cfg.access_off)
        return -1;
    return access_fd(cfg.access);
}

void write_access_record(access_record const& r, connection_facts const& f,
                         logging_config const& cfg, int fd)
{
    if (cfg.access_off)
        return;
    std::string line = format_access_record(r, f, cfg);
    line += '\n';
    log::write_line(fd, line);
}

} // namespace got
