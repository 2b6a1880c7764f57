#include "goh_page.hpp"

#include <array>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string>

namespace got {

namespace {

constexpr std::string_view style = R"css(
body { font: 15px/1.4 system-ui, sans-serif; margin: 0; background: #fafaf7; color: #222; }
header { display: flex; gap: .5em; padding: .6em; background: #334; }
#go { display: contents; }
header input { flex: 1; font: 14px monospace; padding: .3em; }
main { padding: .6em 1em; }
pre, .menu { font: 14px/1.35 monospace; white-space: pre-wrap; margin: 0; }
.menu div { min-height: 1.35em; }
.err { color: #a00; }
.kind { color: #888; display: inline-block; width: 5ch; }
.search input { font: 14px monospace; }
#status { color: #666; font-size: 13px; padding: 0 1em; }
)css";

// Everything the server sends is inserted as text (textContent, value), never as markup;
// links get their href from gopher_url() or, for `h` items, only http(s) and gopher URLs.
constexpr std::string_view script = R"js(
'use strict';
const endpoint = location.pathname;
const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const defaultUrl = () => 'gopher://' + location.hostname +
  (location.port ? ':' + location.port : '') + '/1';
const encodeSelector = (s) => encodeURIComponent(s).replace(/%2F/g, '/');
function gopherUrl(type, selector, host, port) {
  const h = host.includes(':') ? '[' + host + ']' : host;
  return 'gopher://' + h + (port && port !== '70' ? ':' + port : '') + '/' + type +
    encodeSelector(selector);
}
function itemType(url) {
  const m = /^gopher:\/\/(\[[^\]]*\]|[^/:]*)(:\d+)?\/(.)/i.exec(url);
  return m ? decodeURIComponent(m[3]) : '1';
}
function link(text, url) {
  const a = el('a', null, text);
  a.href = '#' + url;
  return a;
}
function searchBox(display, url) {
  const f = el('form', 'search');
  const q = el('input');
  q.placeholder = display;
  q.setAttribute('aria-label', display);
  f.append(el('span', 'kind', '[?]'), q, el('button', null, 'Search'));
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = url + '%09' + encodeURIComponent(q.value);
  });
  return f;
}
function externalLink(display, selector) {
  const target = selector.slice(4);
  if (/^gopher:\/\//i.test(target)) return link(display, target);
  if (!/^https?:\/\//i.test(target)) return el('span', null, display);
  const a = el('a', null, display);
  a.href = target;
  a.rel = 'noopener noreferrer';
  return a;
}
function menuLine(line) {
  const row = el('div');
  const type = line[0];
  const [display = '', selector = '', host = '', port = '70'] = line.slice(1).split('\t');
  const url = gopherUrl(type, selector, host, port.trim());
  const kinds = { '0': 'TXT', '1': 'DIR', '7': '?', 'h': 'WWW', 'g': 'GIF', 'I': 'IMG' };
  if (type === 'i') { row.append(el('span', 'kind', ''), display); return row; }
  if (type === '3') { row.append(el('span', 'kind err', 'ERR'), el('span', 'err', display)); return row; }
  if (type === '7') { row.append(searchBox(display, url)); return row; }
  row.append(el('span', 'kind', kinds[type] || 'BIN'));
  if (type === 'h' && selector.startsWith('URL:')) row.append(externalLink(display, selector));
  else if (type === '8' || type === 'T' || type === '2') row.append(display);
  else row.append(link(display, url));
  return row;
}
function renderMenu(text, out) {
  const menu = el('div', 'menu');
  for (const line of text.split(/\r?\n/)) {
    if (line === '.') break;
    if (line === '') continue;
    menu.append(menuLine(line));
  }
  out.append(menu);
}
function renderDownload(url, bytes, out) {
  const a = el('a', null, 'Download ' + url.split('/').pop());
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  a.download = decodeURIComponent(url.split('/').pop()) || 'download';
  out.append(a, el('p', null, bytes.byteLength + ' bytes'));
}
async function show() {
  const url = location.hash.slice(1) || defaultUrl();
  $('addr').value = url;
  const out = $('out');
  out.replaceChildren();
  $('status').textContent = 'Loading ' + url;
  let res;
  try {
    res = await fetch(endpoint + '?url=' + encodeURIComponent(url),
      { headers: { Accept: 'application/gopher' } });
  } catch (e) {
    $('status').textContent = 'Failed: ' + e;
    return;
  }
  const bytes = await res.arrayBuffer();
  $('status').textContent = res.status + ' ' + res.statusText + ' ' + (res.headers.get('Via') || '');
  const text = new TextDecoder().decode(bytes);
  if (!res.ok) { out.append(el('pre', 'err', text)); return; }
  const type = itemType(url);
  if (type === '1' || type === '7') renderMenu(text, out);
  else if (type === '0' || type === 'h') out.append(el('pre', null, text));
  else renderDownload(url, bytes, out);
  document.title = url;
}
$('go').addEventListener('submit', (ev) => {
  ev.preventDefault();
  location.hash = $('addr').value;
});
window.addEventListener('hashchange', show);
show();
)js";

constexpr std::string_view head = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gopher over HTTP</title>
<style>)html";

constexpr std::string_view body = R"html(</style>
</head>
<body>
<header><form id="go"><input id="addr" aria-label="Gopher URL" spellcheck="false"><button>Go</button></form></header>
<div id="status"></div>
<main id="out"></main>
<script>)html";

constexpr std::string_view tail = R"html(</script>
</body>
</html>
)html";

std::string sha256_base64(std::string_view text)
{
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(reinterpret_cast<unsigned char const*>(text.data()), text.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1> out{};
    int n = EVP_EncodeBlock(out.data(), digest.data(), static_cast<int>(digest.size()));
    return std::string(reinterpret_cast<char const*>(out.data()), static_cast<std::size_t>(n));
}

} // namespace

std::string_view goh_page_html()
{
    static std::string const page = std::string(head) + std::string(style) + std::string(body) +
                                    std::string(script) + std::string(tail);
    return page;
}

std::string_view goh_page_csp()
{
    static std::string const csp = "default-src 'none'; script-src 'sha256-" +
                                   sha256_base64(script) + "'; style-src 'sha256-" +
                                   sha256_base64(style) +
                                   "'; connect-src 'self'; img-src 'none'; base-uri 'none'; "
                                   "form-action 'none'; frame-ancestors 'none'";
    return csp;
}

} // namespace got
