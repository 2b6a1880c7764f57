#include "log.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace got::log {

namespace {

std::atomic<log_level> current_level{log_level::info};

} // namespace

void append_json_string(std::string& out, std::string_view s)
{
    out += '"';
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

void set_level(log_level level)
{
    current_level.store(level, std::memory_order_relaxed);
}

bool enabled(log_level level)
{
    return level >= current_level.load(std::memory_order_relaxed);
}

void append_timestamp(std::string& out)
{
    // gmtime_r and strftime once a second per thread: a busy router stamps
    // thousands of access lines in the same second.
    thread_local std::time_t cached_secs = -1;
    thread_local char cached[24]; // `2026-11-25T18:40:00`
    thread_local std::size_t cached_len = 0;
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    if (secs != cached_secs) {
        std::tm tm{};
        gmtime_r(&secs, &tm);
        cached_len = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_secs = secs;
    }
    auto m = static_cast<int>(ms.count());
    char tail[] = {'.', static_cast<char>('0' + m / 100), static_cast<char>('0' + m / 10 % 10),
                   static_cast<char>('0' + m % 10), 'Z'};
    out.append(cached, cached_len);
    out.append(tail, sizeof tail);
}

std::string timestamp_now()
{
    std::string out;
    append_timestamp(out);
    return out;
}

void write_line(int fd, std::string_view line)
{
    // One write(2) per line; retry only on EINTR and short writes.
    while (!line.empty()) {
        ssize_t n = ::write(fd, line.data(), line.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        line.remove_prefix(static_cast<std::size_t>(n));
    }
}

void write(log_level level, std::string_view message)
{
    if (!enabled(level))
        return;
    std::string line = timestamp_now();
    line += ' ';
    line += name_of(level);
    line += ' ';
    line += message;
    line += '\n';
    write_line(STDERR_FILENO, line);
}

void coroutine_ended(std::exception_ptr e)
{
    if (!e)
        return;
    try {
        std::rethrow_exception(e);
    } catch (std::exception const& ex) {
        error(std::string("coroutine ended by exception: ") + ex.what());
    } catch (...) {
        error("coroutine ended by unknown exception");
    }
}

} // namespace got::log
