// The error log: one line per event on stderr, `TIME LEVEL message`.
//
// Each line is written with a single write(2), so lines from several threads never
// interleave. The level is process-wide and may change on reload.
#pragma once

#include "config.hpp"

#include <exception>
#include <string>
#include <string_view>

namespace got::log {

void set_level(log_level level);
bool enabled(log_level level);
void write(log_level level, std::string_view message);

// Write an already formatted line (the access log uses this) to fd, as one write(2).
void write_line(int fd, std::string_view line);

// `s` as a JSON string, quotes included, appended to `out` (control bytes escaped).
void append_json_string(std::string& out, std::string_view s);

// `2026-11-25T18:40:00.123Z`, UTC, millisecond precision.
std::string timestamp_now();
// The same, appended to `out`.
void append_timestamp(std::string& out);

// The completion handler for a detached coroutine (co_spawn): logs the exception that
// ended it, if any, as an error.
void coroutine_ended(std::exception_ptr e);

inline void debug(std::string_view m)
{
    if (enabled(log_level::debug))
        write(log_level::debug, m);
}
inline void info(std::string_view m)
{
    write(log_level::info, m);
}
inline void warning(std::string_view m)
{
    write(log_level::warning, m);
}
inline void error(std::string_view m)
{
    write(log_level::error, m);
}

} // namespace got::log
