// Typed reading of a parsed YAML tree, for the config loader.
//
// Each read checks one node against what the config wants there. A mismatch is recorded
// as a config_problem naming the key path and the 1-based position, the read returns an
// empty optional, and the caller carries on: one pass finds every problem. Only yaml-cpp
// calls that do not throw on a parsed tree are used (type tests, iteration, Scalar, Mark).
// The caller bounds the work first with count_yaml_nodes: aliases can make a small
// document a huge (even cyclic) tree.
#pragma once

#include "config_loader.hpp"
#include "enum_table.hpp"

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace got {

// A node and where it is: its key path (`routes[2].backends[0]`) and the position to
// report. A null value reports its key's position (yaml-cpp marks it on the next line).
struct yaml_value
{
    YAML::Node node;
    std::string path;
    YAML::Mark mark;
};

// A map whose keys were checked (scalars, known, not repeated), its values by key.
class yaml_map
{
public:
    yaml_map(yaml_value self, std::vector<std::pair<std::string, yaml_value>> fields);

    // The value of `key`; absent when the key is absent or its value is null.
    std::optional<yaml_value> get(std::string_view key) const;
    // The value of `key` even when it is null; absent only when the key is absent.
    std::optional<yaml_value> get_even_null(std::string_view key) const;
    // Where to report that `key` is missing: the map's position, the key's path.
    yaml_value missing(std::string_view key) const;

private:
    yaml_value self_;
    std::vector<std::pair<std::string, yaml_value>> fields_;
};

class yaml_reader
{
public:
    explicit yaml_reader(std::string file);

    void problem(yaml_value const& at, std::string message);
    bool has_problems() const { return !problems_.empty(); }
    // Every problem recorded, ordered by position.
    std::vector<config_problem> take_problems();

    std::optional<yaml_map> map(yaml_value const& v, std::span<std::string_view const> keys);
    std::optional<std::vector<yaml_value>> list(yaml_value const& v);
    std::optional<std::string> string(yaml_value const& v);
    std::optional<bool> boolean(yaml_value const& v);
    std::optional<long long> integer(yaml_value const& v, long long min, long long max);

    // One of `choices` by name; `what` names the setting in the message ("balance").
    template <class T>
    // The names come from the enum's table (enum_table.hpp), less `except`.
    std::optional<T> choice(yaml_value const& v, std::string_view what,
                            std::initializer_list<T> except = {});

    // A scalar run through `parse` (returning a parse_result), whose message becomes the
    // problem; `expected` says what a non-scalar should have been ("host:port").
    template <class Parse>
    auto parsed(yaml_value const& v, std::string_view expected, Parse parse)
        -> std::optional<std::decay_t<decltype(parse(std::string_view{}).value())>>;

private:
    // The scalar's text, or a problem `expected <expected>, got <what it is>`.
    std::optional<std::string> scalar(yaml_value const& v, std::string_view expected);
    void unknown_choice(yaml_value const& v, std::string_view what, std::string const& got,
                        std::vector<std::string_view> const& names);

    std::string file_;
    std::vector<config_problem> problems_;
};

yaml_value yaml_root(YAML::Node const& node);
std::string child_path(std::string_view parent, std::string_view key);
std::string item_path(std::string_view parent, std::size_t index);

// How a node reads in a message: `a list`, `a map`, `nothing`, or the quoted scalar.
std::string describe(YAML::Node const& node);

// `a, b, c`.
std::string joined_names(std::vector<std::string_view> const& names);

// The known name closest to `word` when it is a plausible typo of it.
std::optional<std::string_view> closest_name(std::string_view word,
                                             std::vector<std::string_view> const& names);

// Counts the nodes reachable from `root`, a node reached through N aliases N times (aliases
// may even form cycles), and stops once the count passes `limit`: returns at most limit + 1.
std::size_t count_yaml_nodes(YAML::Node const& root, std::size_t limit);

template <class T>
std::optional<T> yaml_reader::choice(yaml_value const& v, std::string_view what,
                                     std::initializer_list<T> except)
{
    std::vector<std::string_view> names;
    for (auto value : enum_values<T>())
        if (std::find(except.begin(), except.end(), value) == except.end())
            names.push_back(name_of(value));
    auto text = scalar(v, "one of " + joined_names(names));
    if (!text)
        return std::nullopt;
    if (std::find(names.begin(), names.end(), *text) != names.end())
        return from_name<T>(*text);
    unknown_choice(v, what, *text, names);
    return std::nullopt;
}

template <class Parse>
auto yaml_reader::parsed(yaml_value const& v, std::string_view expected, Parse parse)
    -> std::optional<std::decay_t<decltype(parse(std::string_view{}).value())>>
{
    auto text = scalar(v, expected);
    if (!text)
        return std::nullopt;
    auto result = parse(std::string_view(*text));
    if (!result) {
        problem(v, result.error());
        return std::nullopt;
    }
    return result.value();
}

} // namespace got
