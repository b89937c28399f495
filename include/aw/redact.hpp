// Credentials out of messages: aw::redact_credentials and aw::scrub_credentials, what every
// module uses before a connection string or URL goes into an exception or a log line.
//
//   aw::redact_credentials("postgresql://app:Sekr3tPw@db/shop");   // "postgresql://app:***@db/shop"
//   aw::redact_credentials("host=db password='a b' dbname=shop");  // "host=db password=*** dbname=shop"
//   aw::redact_credentials("mongodb://app:Sekr/3tPw@db/");         // "mongodb://***@db/"
//   // A driver's own message that quotes a fragment of the string:
//   aw::scrub_credentials("invalid percent-encoded token: \"Sekr%zz\"", "postgresql://app:Sekr%zz@db/");
//                                                                 // "invalid percent-encoded token: \"***\""
//
// redact_credentials takes a URL (any scheme://, such as postgresql://, postgres://,
// mongodb://, mongodb+srv://, http(s)://) or a libpq key=value string and gives it back
// with every password replaced by "***": the password of the user-info part, and the value
// of every parameter (URL query or key=value) whose name, percent-decoded and in any case,
// contains "password" (password, PASSWORD, pass%77ord, sslpassword). Where the user-info is
// ambiguous (an unencoded '/', '@', '?' or '#' in the password, which drivers split in
// their own ways) the whole user-info is dropped, user name included: everything up to the
// last '@' becomes "***". Any other string (a plain database name) is given back as is.
// It over-redacts rather than leak: a URL with credentials and an '@' in its path loses
// its host too.
//
// scrub_credentials replaces, in a message that some library wrote about the string (libpq,
// libcurl, libmongoc quote what they could not parse), every password the string may hold,
// under every reading of an ambiguous user-info, as written and percent-decoded, and the
// pieces of an unencoded one, by "***"; the whole string, if quoted, by its redaction.
#pragma once

#include <string>
#include <string_view>

namespace aw {

// `dsn_or_url` with its passwords replaced by "***" (above).
std::string redact_credentials(std::string_view dsn_or_url);

// `message` with every password that `dsn_or_url` may hold replaced by "***" (above).
std::string scrub_credentials(std::string_view message, std::string_view dsn_or_url);

}  // namespace aw
