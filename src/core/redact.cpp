// aw::redact_credentials and aw::scrub_credentials: passwords out of connection strings,
// URLs and the messages drivers write about them.
#include <aw/redact.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aw {

namespace {

constexpr auto npos = std::string_view::npos;
constexpr std::string_view hidden = "***";

bool space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) noexcept { return c >= '0' && c <= '9'; }
int hex(char c) noexcept {
  if (digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Invalid escapes are kept as they are (a driver may quote them so).
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A parameter whose value is secret: its name, decoded and lower-cased, says "password".
bool secret_key(std::string_view key) {
  std::string k = percent_decoded(key);
  for (char& c : k)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return k.find("password") != std::string::npos;
}

// Where the authority of a URL starts (after "scheme://"), npos for a string that is none.
std::size_t authority_start(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  if (i >= s.size() || !alpha(s[i])) return npos;
  while (i < s.size() && (alpha(s[i]) || digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) ++i;
  return s.substr(i, 3) == "://" ? i + 3 : npos;
}

// host[:port] or [v6][:port], comma-separated (libpq and libmongoc take several): what an
// authority without user-info looks like. Anything else before the first '/' ("app:Sekr" of
// "app:Sekr/3tPw@db") is taken for a user-info cut short by an unencoded character.
bool plain_hosts(std::string_view head) noexcept {
  std::size_t start = 0;
  for (;;) {
    std::size_t comma = head.find(',', start);
    std::string_view part = head.substr(start, comma == npos ? npos : comma - start);
    std::string_view port;
    if (!part.empty() && part.front() == '[') {
      std::size_t close = part.find(']');
      if (close == npos) return false;
      port = part.substr(close + 1);
      if (!port.empty() && port.front() != ':') return false;
    } else if (std::size_t colon = part.find(':'); colon != npos) {
      port = part.substr(colon);
    }
    if (!port.empty())
      for (char c : port.substr(1))
        if (!digit(c)) return false;
    if (comma == npos) return true;
    start = comma + 1;
  }
}

// The user-info of a URL whose authority starts at `a`: [a, end) with s[end] == '@'.
struct user_info {
  std::size_t end = npos;  // npos: none
  bool ambiguous = false;  // drivers may split it differently: drop it all
};
user_info find_user_info(std::string_view s, std::size_t a) {
  std::string_view rest = s.substr(a);
  const std::size_t head_end = rest.find_first_of("/?#");
  const std::string_view head = rest.substr(0, head_end);
  const std::size_t last_at = rest.rfind('@');
  if (last_at == npos) return {};
  const std::size_t head_at = head.rfind('@');
  if (head_at == npos && plain_hosts(head)) return {};  // an '@' in the path or the query
  user_info u;
  u.end = a + last_at;
  const std::string_view info = rest.substr(0, last_at);
  u.ambiguous = head_at != last_at || info.find_first_of("@/?#") != npos;
  return u;
}

// The spans [begin, end) of the values of secret parameters in a URL's query, which starts
// at or after `from`.
std::vector<std::pair<std::size_t, std::size_t>> secret_query_values(std::string_view s, std::size_t from) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  std::size_t q = s.find('?', from);
  if (q == npos) return out;
  const std::size_t end = std::min(s.size(), s.find('#', q));
  for (std::size_t i = q + 1; i < end;) {
    std::size_t amp = std::min(end, s.find('&', i));
    std::size_t eq = s.find('=', i);
    if (eq != npos && eq < amp && secret_key(s.substr(i, eq - i))) out.emplace_back(eq + 1, amp);
    i = amp + 1;
  }
  return out;
}

// A key=value connection string (libpq's): the spans of the secret values, each with its
// unquoted, unescaped text.
struct kv_secret {
  std::size_t begin, end;
  std::string value;
};
std::vector<kv_secret> secret_kv_values(std::string_view s) {
  std::vector<kv_secret> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && space(s[i])) ++i;
    const std::size_t key_begin = i;
    while (i < s.size() && s[i] != '=' && !space(s[i])) ++i;
    const std::string_view key = s.substr(key_begin, i - key_begin);
    while (i < s.size() && space(s[i])) ++i;
    if (i >= s.size() || s[i] != '=') continue;  // libpq refuses it; the next word is a key
    ++i;
    while (i < s.size() && space(s[i])) ++i;
    const std::size_t value_begin = i;
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
      if (i < s.size()) ++i;  // unterminated: the value runs to the end
    } else {
      for (; i < s.size() && !space(s[i]); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
    }
    if (secret_key(key)) out.push_back({value_begin, i, std::move(value)});
  }
  return out;
}

std::string with_spans_hidden(std::string_view s, std::vector<std::pair<std::size_t, std::size_t>> spans) {
  std::sort(spans.begin(), spans.end());
  std::string out;
  std::size_t at = 0;
  for (auto [b, e] : spans) {
    if (b < at) continue;
    out.append(s.substr(at, b - at));
    out.append(hidden);
    at = e;
  }
  out.append(s.substr(at));
  return out;
}

void add_candidate(std::vector<std::string>& out, std::string c) {
  if (c.empty() || c == hidden) return;
  std::string d = percent_decoded(c);
  if (d != c && !d.empty()) out.push_back(std::move(d));
  out.push_back(std::move(c));
}

// The pieces of an unencoded password that drivers may quote apart ("3tPw" of "Sekr@3tPw").
// Very short pieces are left: they would blank out ordinary words of the message.
void add_pieces(std::vector<std::string>& out, std::string_view c) {
  std::size_t start = 0;
  for (;;) {
    std::size_t cut = c.find_first_of("@/?#:", start);
    std::string_view piece = c.substr(start, cut == npos ? npos : cut - start);
    if (piece.size() >= 3 && piece.size() < c.size()) add_candidate(out, std::string(piece));
    if (cut == npos) return;
    start = cut + 1;
  }
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + with.size())) s.replace(p, what.size(), with);
}

}  // namespace

std::string redact_credentials(std::string_view s) {
  const std::size_t a = authority_start(s);
  if (a == npos) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    for (const kv_secret& k : secret_kv_values(s)) spans.emplace_back(k.begin, k.end);
    return with_spans_hidden(s, std::move(spans));
  }
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  const user_info u = find_user_info(s, a);
  std::size_t after = a;
  if (u.end != npos) {
    after = u.end;
    if (u.ambiguous) {
      spans.emplace_back(a, u.end);
    } else if (std::size_t colon = s.substr(a, u.end - a).find(':'); colon != npos) {
      spans.emplace_back(a + colon + 1, u.end);
    }
  }
  for (auto span : secret_query_values(s, after)) spans.push_back(span);
  return with_spans_hidden(s, std::move(spans));
}

std::string scrub_credentials(std::string_view message, std::string_view s) {
  std::vector<std::string> candidates;
  const std::size_t a = authority_start(s);
  if (a == npos) {
    for (const kv_secret& k : secret_kv_values(s)) {
      std::string_view raw = s.substr(k.begin, k.end - k.begin);
      add_candidate(candidates, std::string(raw));
      if (raw.size() >= 2 && raw.front() == '\'') add_candidate(candidates, std::string(raw.substr(1, raw.size() - 2)));
      add_candidate(candidates, k.value);
    }
  } else {
    const user_info u = find_user_info(s, a);
    std::size_t after = a;
    if (u.end != npos) {
      after = u.end;
      // Every reading: the password from the first ':' up to each '@'.
      const std::size_t colon = s.substr(a, u.end - a).find(':');
      if (colon != npos) {
        const std::size_t pw = a + colon + 1;
        for (std::size_t at = s.find('@', pw); at != npos && at <= u.end; at = s.find('@', at + 1))
          add_candidate(candidates, std::string(s.substr(pw, at - pw)));
        if (u.ambiguous) add_pieces(candidates, s.substr(pw, u.end - pw));
      } else if (u.ambiguous) {
        add_pieces(candidates, s.substr(a, u.end - a));
      }
    }
    for (auto [b, e] : secret_query_values(s, after)) add_candidate(candidates, std::string(s.substr(b, e - b)));
  }
  std::string out(message);
  // The whole string first, so that a quoted copy keeps its shape.
  std::string_view trimmed = s;
  while (!trimmed.empty() && space(trimmed.front())) trimmed.remove_prefix(1);
  while (!trimmed.empty() && space(trimmed.back())) trimmed.remove_suffix(1);
  if (!candidates.empty() && !trimmed.empty()) replace_all(out, trimmed, redact_credentials(trimmed));
  std::sort(candidates.begin(), candidates.end(), [](const std::string& x, const std::string& y) { return x.size() > y.size(); });
  for (const std::string& c : candidates) replace_all(out, c, hidden);
  return out;
}

}  // namespace aw
