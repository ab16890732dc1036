package dnsclient

import "strings"

// miekg/dns keeps TXT character-strings and domain names in presentation
// format (RFC 1035 section 5.1): when it reads a message it writes a
// quote or a backslash as \" or \\, and any byte outside printable ASCII as
// \DDD (three decimal digits); names also escape ".", " ", "'", "@", ";",
// "(" and ")". The parsers of this project work on the bytes as published,
// so every string read off the wire goes through rawTXT first: a tab must
// reach the record parser as a tab (RFC 8461 section 3.1 allows it), and
// "é" as two bytes that are not US-ASCII, never as the text "\195\169".

// rawTXT returns the bytes that the presentation-format character-string s
// stands for: the exact inverse of miekg/dns's escaping. A string without a
// backslash, the common case, is returned as it is.
func rawTXT(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c) // miekg never ends a string with a lone backslash
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			b = append(b, (s[i+1]-'0')*100+(s[i+2]-'0')*10+(s[i+3]-'0'))
			i += 3
			continue
		}
		i++
		b = append(b, s[i])
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// joinTXT returns the bytes of one TXT record: its character-strings,
// decoded, joined without spaces (RFC 8461 section 3.1, RFC 8460 section 3).
func joinTXT(txt []string) string {
	if len(txt) == 1 {
		return rawTXT(txt[0])
	}
	var b strings.Builder
	for _, s := range txt {
		b.WriteString(rawTXT(s))
	}
	return b.String()
}

// hostName returns the presentation-format name n as a host name: lower
// case, without the trailing dot. It fails for a name that needed an escape,
// such as mx\.evil.example, whose first label holds a dot: every byte that
// miekg/dns escapes in a name (".", white space, quotes, "@", ";", "(",
// ")", "\" and anything outside printable ASCII) is one that no host name
// may hold, and read as text such a name would stand for another host.
func hostName(n string) (string, bool) {
	if strings.IndexByte(n, '\\') >= 0 {
		return "", false
	}
	return strings.TrimSuffix(strings.ToLower(n), "."), true
}

// isNullMX reports whether an MX target is the root: a null MX (RFC 7505).
func isNullMX(target string) bool { return target == "." || target == "" }
