#include "yaml_reader.hpp"

#include <algorithm>
#include <charconv>

namespace got {

namespace {

constexpr std::size_t max_shown_scalar = 60;

int one_based(int zero_based)
{
    return zero_based >= 0 ? zero_based + 1 : 0;
}

char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Optimal string alignment distance, case-insensitive: a swap of two letters costs one.
std::size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

std::string unknown_key_message(std::string const& key, std::vector<std::string_view> const& known)
{
    auto message = "unknown key \"" + key + "\"";
    if (auto near = closest_name(key, known))
        return message + " (did you mean \"" + std::string(*near) + "\"?)";
    return message + "; expected one of: " + joined_names(known);
}

YAML::Mark value_mark(YAML::Node const& key, YAML::Node const& value)
{
    return value.IsNull() ? key.Mark() : value.Mark();
}

std::optional<std::size_t> find_field(std::vector<std::pair<std::string, yaml_value>> const& fields,
                                      std::string_view key)
{
    for (std::size_t i = 0; i < fields.size(); ++i)
        if (fields[i].first == key)
            return i;
    return std::nullopt;
}

} // namespace

yaml_map::yaml_map(yaml_value self, std::vector<std::pair<std::string, yaml_value>> fields)
    : self_(std::move(self))
    , fields_(std::move(fields))
{}

std::optional<yaml_value> yaml_map::get_even_null(std::string_view key) const
{
    if (auto i = find_field(fields_, key))
        return fields_[*i].second;
    return std::nullopt;
}

std::optional<yaml_value> yaml_map::get(std::string_view key) const
{
    auto v = get_even_null(key);
    if (v && v->node.IsNull())
        return std::nullopt;
    return v;
}

yaml_value yaml_map::missing(std::string_view key) const
{
    return {self_.node, child_path(self_.path, key), self_.mark};
}

yaml_reader::yaml_reader(std::string file)
    : file_(std::move(file))
{}

void yaml_reader::problem(yaml_value const& at, std::string message)
{
    int line = one_based(at.mark.line);
    int column = line == 0 ? 0 : one_based(at.mark.column);
    problems_.push_back({file_, line, column, at.path, std::move(message)});
}

std::vector<config_problem> yaml_reader::take_problems()
{
    std::stable_sort(problems_.begin(), problems_.end(), [](auto const& a, auto const& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    return std::move(problems_);
}

std::optional<yaml_map> yaml_reader::map(yaml_value const& v,
                                         std::span<std::string_view const> keys)
{
    if (!v.node.IsMap()) {
        problem(v, "expected a map, got " + describe(v.node));
        return std::nullopt;
    }
    std::vector<std::string_view> known(keys.begin(), keys.end());
    std::vector<std::pair<std::string, yaml_value>> fields;
    for (auto const& entry : v.node) {
        YAML::Node const& key = entry.first;
        YAML::Node const& value = entry.second;
        if (!key.IsScalar()) {
            problem({key, v.path, key.Mark()}, "expected a key name, got " + describe(key));
            continue;
        }
        auto const& name = key.Scalar();
        yaml_value field{value, child_path(v.path, name), value_mark(key, value)};
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            problem({key, field.path, key.Mark()}, unknown_key_message(name, known));
        } else if (auto first = find_field(fields, name)) {
            problem({key, field.path, key.Mark()},
                    "duplicate key \"" + name + "\" (first at line " +
                        std::to_string(one_based(fields[*first].second.mark.line)) + ")");
        } else {
            fields.emplace_back(name, std::move(field));
        }
    }
    return yaml_map(v, std::move(fields));
}

std::optional<std::vector<yaml_value>> yaml_reader::list(yaml_value const& v)
{
    if (!v.node.IsSequence()) {
        problem(v, "expected a list, got " + describe(v.node));
        return std::nullopt;
    }
    std::vector<yaml_value> items;
    for (auto const& item : v.node) {
        YAML::Node const& node = item;
        items.push_back({node, item_path(v.path, items.size()), node.Mark()});
    }
    return items;
}

std::optional<std::string> yaml_reader::scalar(yaml_value const& v, std::string_view expected)
{
    if (!v.node.IsScalar()) {
        problem(v, "expected " + std::string(expected) + ", got " + describe(v.node));
        return std::nullopt;
    }
    return v.node.Scalar();
}

std::optional<std::string> yaml_reader::string(yaml_value const& v)
{
    return scalar(v, "a string");
}

std::optional<bool> yaml_reader::boolean(yaml_value const& v)
{
    if (v.node.IsScalar()) {
        auto const& text = v.node.Scalar();
        if (text == "true" || text == "True" || text == "TRUE")
            return true;
        if (text == "false" || text == "False" || text == "FALSE")
            return false;
    }
    problem(v, "expected true or false, got " + describe(v.node));
    return std::nullopt;
}

std::optional<long long> yaml_reader::integer(yaml_value const& v, long long min, long long max)
{
    auto range = "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!v.node.IsScalar()) {
        problem(v, range + ", got " + describe(v.node));
        return std::nullopt;
    }
    auto const& text = v.node.Scalar();
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        problem(v, range + ", got " + describe(v.node));
        return std::nullopt;
    }
    return value;
}

void yaml_reader::unknown_choice(yaml_value const& v, std::string_view what, std::string const& got,
                                 std::vector<std::string_view> const& names)
{
    auto message = "unknown " + std::string(what) + " \"" + got + "\"";
    if (auto near = closest_name(got, names))
        message += " (did you mean \"" + std::string(*near) + "\"?)";
    problem(v, message + "; expected one of: " + joined_names(names));
}

yaml_value yaml_root(YAML::Node const& node)
{
    return {node, "", node.Mark()};
}

std::string child_path(std::string_view parent, std::string_view key)
{
    if (parent.empty())
        return std::string(key);
    return std::string(parent) + "." + std::string(key);
}

std::string item_path(std::string_view parent, std::size_t index)
{
    return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string describe(YAML::Node const& node)
{
    if (node.IsSequence())
        return "a list";
    if (node.IsMap())
        return "a map";
    if (!node.IsScalar())
        return "nothing";
    std::string shown = "\"";
    auto const& text = node.Scalar();
    for (char c : text.substr(0, max_shown_scalar)) {
        auto byte = static_cast<unsigned char>(c);
        shown += (byte < 0x20 || byte == 0x7f) ? '?' : c;
    }
    return shown + (text.size() > max_shown_scalar ? "...\"" : "\"");
}

std::string joined_names(std::vector<std::string_view> const& names)
{
    std::string out;
    for (auto name : names) {
        if (!out.empty())
            out += ", ";
        out += name;
    }
    return out;
}

std::optional<std::string_view> closest_name(std::string_view word,
                                             std::vector<std::string_view> const& names)
{
    // Numbers ("1.1" for a TLS version) are not typos of the known values.
    if (std::none_of(word.begin(), word.end(),
                     [](char c) { return lower(c) >= 'a' && lower(c) <= 'z'; }))
        return std::nullopt;
    std::size_t allowed = word.size() <= 3 ? 1 : 2;
    std::optional<std::string_view> best;
    std::size_t best_distance = allowed + 1;
    for (auto name : names) {
        auto distance = edit_distance(word, name);
        if (distance < best_distance) {
            best = name;
            best_distance = distance;
        }
    }
    if (best || word.size() < 3)
        return best;
    // A shortened name: `warn` for `warning`.
    for (auto name : names)
        if (name.size() > word.size() && edit_distance(word, name.substr(0, word.size())) == 0)
            return name;
    return std::nullopt;
}

std::size_t count_yaml_nodes(YAML::Node const& root, std::size_t limit)
{
    // Count on push, not on pop: a wide list reached through many aliases must not fill
    // `pending` before the limit is noticed.
    std::vector<YAML::Node> pending{root};
    std::size_t count = 1;
    while (!pending.empty() && count <= limit) {
        YAML::Node node = pending.back();
        pending.pop_back();
        bool is_map = node.IsMap();
        if (!is_map && !node.IsSequence())
            continue;
        for (auto it = node.begin(); it != node.end() && count <= limit; ++it) {
            if (is_map) {
                pending.push_back(it->first);
                pending.push_back(it->second);
                count += 2;
            } else {
                pending.push_back(*it);
                ++count;
            }
        }
    }
    return std::min(count, limit + 1);
}

} // namespace got
