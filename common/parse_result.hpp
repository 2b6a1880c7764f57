// The outcome of parsing one piece of config text: a value, or a message saying what was
// expected. Messages are written to follow a key path, e.g. `expected ..., got "..."`.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace got {

template <class T>
class parse_result
{
public:
    static parse_result ok(T value)
    {
        parse_result r;
        r.value_ = std::move(value);
        return r;
    }
    static parse_result fail(std::string message)
    {
        parse_result r;
        r.error_ = std::move(message);
        return r;
    }

    explicit operator bool() const { return value_.has_value(); }
    T const& value() const { return *value_; }
    std::string const& error() const { return error_; }

private:
    parse_result() = default;

    std::optional<T> value_;
    std::string error_;
};

} // namespace got
