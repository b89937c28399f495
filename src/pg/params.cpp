// The checks on a statement's text and its arguments made before anything is sent.
#include <aw/pg/errors.hpp>
#include <aw/pg/params.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace aw::pg {

// The highest $n a statement refers to, outside string literals (E'' escapes, dollar
// quoting), quoted identifiers and comments: a statement given more arguments than that
// would run with the extra ones ignored.
int detail::highest_placeholder(std::string_view s) noexcept {
  auto word = [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '$' ||
           static_cast<unsigned char>(ch) >= 0x80;
  };
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  int highest = 0;
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const char ch = s[i];
    if (ch == '\'') {
      const bool escapes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !word(s[i - 2]));
      for (++i; i < n; ++i) {
        if (escapes && s[i] == '\\') {
          ++i;
        } else if (s[i] == '\'') {
          if (i + 1 < n && s[i + 1] == '\'') {
            ++i;
          } else {
            ++i;
            break;
          }
        }
      }
    } else if (ch == '"') {
      for (++i; i < n; ++i)
        if (s[i] == '"') {
          if (i + 1 < n && s[i + 1] == '"') {
            ++i;
          } else {
            ++i;
            break;
          }
        }
    } else if (ch == '-' && i + 1 < n && s[i + 1] == '-') {
      i = s.find('\n', i);
      if (i == std::string_view::npos) break;
    } else if (ch == '/' && i + 1 < n && s[i + 1] == '*') {  // block comments nest
      int depth = 0;
      while (i < n) {
        if (s.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (s.substr(i, 2) == "*/") {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else if (ch == '$' && !(i > 0 && word(s[i - 1]))) {
      std::size_t j = i + 1;
      if (j < n && digit(s[j])) {
        long v = 0;
        while (j < n && digit(s[j])) {
          if (v < 1000000) v = v * 10 + (s[j] - '0');
          ++j;
        }
        highest = std::max(highest, static_cast<int>(v));
        i = j;
        continue;
      }
      while (j < n && word(s[j]) && s[j] != '$') ++j;
      if (j < n && s[j] == '$') {  // $tag$ ... $tag$
        const std::string_view tag = s.substr(i, j - i + 1);
        const std::size_t end = s.find(tag, j + 1);
        i = end == std::string_view::npos ? n : end + tag.size();
        continue;
      }
      ++i;
    } else {
      ++i;
    }
  }
  return highest;
}

void detail::check_argument_count(std::string_view sql, int takes, int given) {
  if (given > takes)
    throw interface_error("aw::pg: the statement takes " + std::to_string(takes) + " arguments, " + std::to_string(given) + " given (" +
                          std::string(sql) + ")");
}

// PostgreSQL reads a statement's text up to a NUL: what follows one would be dropped.
void detail::check_sql(std::string_view sql) {
  if (auto nul = sql.find('\0'); nul != std::string_view::npos)
    throw interface_error("aw::pg: the statement holds a NUL byte at offset " + std::to_string(nul) + ", where PostgreSQL would end it (" +
                          std::string(sql.substr(0, nul)) + ")");
}

}  // namespace aw::pg

namespace aw::pg::detail {

oid params::runtime_type(std::type_index cpp) const noexcept {
  const runtime_codec* c = codecs_ ? codecs_->encoder(cpp) : nullptr;
  return c ? c->type : 0;
}

// A parameter whose C++ type has no aw::pg::codec: the connection's codec for it, sent
// with the registered type's OID in the registered format.
void params::add_runtime(std::type_index cpp, const void* v, std::string (*cpp_name)()) {
  const runtime_codec* c = codecs_ ? codecs_->encoder(cpp) : nullptr;
  if (!c) {
    std::string msg("aw::pg: parameter $");
    msg += std::to_string(types_.size() + 1);
    msg += " is a ";
    msg += cpp_name();
    msg += ", which has no aw::pg::codec and no encoder registered with connection::set_type_codec";
    throw type_error(msg);
  }
  const bool text = c->format == codec_format::text;
  const std::size_t at = buf_.size();
  c->encode(v, buf_);
  if (text) {
    if (std::memchr(buf_.data() + at, 0, buf_.size() - at) != nullptr) {
      buf_.resize(at);
      nul_in_text(types_.size() + 1);
    }
    buf_.push_back('\0');
  }
  types_.push_back(c->type);
  offsets_.push_back(static_cast<int>(at));
  lengths_.push_back(static_cast<int>(buf_.size() - at) - (text ? 1 : 0));
  formats_.push_back(text ? 0 : 1);
}

}  // namespace aw::pg::detail
