package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mtasts-go/mtasts/policy"
)

// maxHints bounds the hints of one policy file.
const maxHints = 20

// hint is the exact fix of one common mistake in a policy file that the
// parser rejected: code names the mistake (a stable "fix-..." code of the
// -json output), line is where it is (1-based, 0 for the whole file).
type hint struct {
	code string
	line int
	msg  string
}

// policyHints names the common mistakes of real published policies in
// body, which the parser rejected with err, and says how to fix each:
// blank lines (above all at the end of the file), a line ending in a lone
// CR, "#" comments, YAML lists, indentation, a byte order mark, a mode or
// max_age that is not one of the values allowed, an mx with a trailing dot
// or with several hosts. The mistakes are found in the text itself; err
// (through its sentinel errors, never its text) says which key the parser
// stopped at, and gives a fallback when no known mistake is found.
func policyHints(body []byte, err error) []hint {
	text := string(body)
	var out []hint
	add := func(code string, line int, format string, args ...any) {
		out = append(out, hint{code, line, fmt.Sprintf(format, args...)})
	}
	if strings.HasPrefix(text, "\ufeff") {
		add("fix-bom", 1, "the file begins with a byte order mark (U+FEFF): save it as plain ASCII, without BOM")
		text = strings.TrimPrefix(text, "\ufeff")
	}
	if lone := strings.Count(text, "\r") - strings.Count(text, "\r\n"); lone > 0 {
		if lone == 1 && strings.HasSuffix(text, "\r") {
			add("fix-stray-cr", strings.Count(text, "\n")+1,
				"the file ends with a lone CR after the last value: end every line with LF (or CRLF), the last one too")
		} else {
			add("fix-cr-line-ends", 0, "lines end with a lone CR (old Mac style): end every line with LF or CRLF")
		}
	}

	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the line break that ends the last line
	}
	last := len(lines) // 1-based number of the last line with text
	for last > 0 && strings.TrimSpace(lines[last-1]) == "" {
		last--
	}
	if n := len(lines) - last; n > 0 && last > 0 {
		what, them := "1 blank line", "it"
		if n > 1 {
			what, them = fmt.Sprintf("%d blank lines", n), "them"
		}
		add("fix-trailing-blank-lines", last+1,
			"the file ends with %s after line %d: delete %s, so that the file ends right after the line break of line %d", what, last, them, last)
	}

	var listKey string // a key with an empty value, which YAML list items follow
	var items []string
	flushList := func() {
		if listKey != "" && len(items) > 0 {
			add("fix-yaml-list", 0, "the policy is not YAML: instead of a list under %q write one line per value: %s",
				listKey, quoteLines(listKey, items))
		}
		listKey, items = "", nil
	}
	for i, raw := range lines[:last] {
		n := i + 1
		line := strings.TrimRight(raw, "\r")
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			add("fix-blank-line", n, "line %d is blank: delete it (the policy allows no empty lines)", n)
			continue
		case strings.HasPrefix(trimmed, "#"):
			add("fix-comment", n, "line %d is a comment: delete it (the policy format has no comments)", n)
			continue
		case strings.HasPrefix(trimmed, "- "):
			items = append(items, strings.TrimSpace(trimmed[2:]))
			continue
		}
		flushList()
		if line != strings.TrimLeft(line, " \t") {
			add("fix-indented", n, "line %d is indented: begin it with its key, %q", n, trimmed)
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if value == "" {
			listKey = key
		}
		if c, _, found := strings.Cut(value, " #"); found {
			add("fix-comment", n, "line %d ends with a comment: write %q (the policy format has no comments)", n, key+": "+strings.TrimSpace(c))
			value = strings.TrimSpace(c)
		}
		switch strings.ToLower(key) {
		case "mode":
			if want := modeFor(value); want != "" && want != value {
				add("fix-mode", n, "line %d: mode %q is not a mode: write %q (the modes are enforce, testing and none, in lower case)", n, value, "mode: "+want)
			}
		case "max_age":
			if want := maxAgeFor(value); want != "" && want != value {
				add("fix-max-age", n, "line %d: max_age is a number of seconds, digits only: write %q", n, "max_age: "+want)
			}
		case "mx":
			switch {
			case strings.HasPrefix(value, "- "):
				add("fix-yaml-list", n, "line %d: the policy is not YAML: write %q", n, "mx: "+strings.TrimSpace(value[2:]))
			case strings.ContainsAny(value, ", "):
				hosts := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' })
				add("fix-mx-list", n, "line %d lists several hosts: write one line per host: %s", n, quoteLines("mx", hosts))
			case strings.HasSuffix(value, ".") && len(value) > 1:
				add("fix-mx-trailing-dot", n, "line %d: an mx has no trailing dot: write %q", n, "mx: "+strings.TrimSuffix(value, "."))
			}
		}
	}
	flushList()

	slices.SortStableFunc(out, func(a, b hint) int { return cmp.Compare(a.line, b.line) })
	if len(out) > maxHints {
		out = out[:maxHints] // a file of mistakes: the first ones say enough
	}
	if len(out) == 0 && err != nil {
		// No known mistake: say where the parser stopped.
		var se *policy.SyntaxError
		where := ""
		if errors.As(err, &se) && se.Line > 0 {
			where = fmt.Sprintf("line %d: ", se.Line)
		}
		add("fix-syntax", 0, "%sfix what the parser reports: %s", where, parserAdvice(err))
	}
	return out
}

// parserAdvice says, from the parser's sentinel error, what a policy needs.
func parserAdvice(err error) string {
	switch {
	case errors.Is(err, policy.ErrEmpty):
		return "the file is empty"
	case errors.Is(err, policy.ErrMissingVersion), errors.Is(err, policy.ErrBadVersion):
		return `the first line must be "version: STSv1"`
	case errors.Is(err, policy.ErrMissingMode), errors.Is(err, policy.ErrBadMode):
		return `it needs one line "mode: enforce" (or testing, or none)`
	case errors.Is(err, policy.ErrMissingMaxAge), errors.Is(err, policy.ErrBadMaxAge):
		return `it needs one line "max_age: N", N seconds, digits only (604800 is a week)`
	case errors.Is(err, policy.ErrMissingMX), errors.Is(err, policy.ErrBadMX):
		return `each MX host goes on its own line "mx: host.example.com" (or "mx: *.example.com")`
	case errors.Is(err, policy.ErrBadLine), errors.Is(err, policy.ErrBadExtension):
		return `every line is "key: value", and nothing else`
	}
	return err.Error()
}

// modeFor returns the mode a mistaken mode value most likely meant, or ""
// if it cannot tell.
func modeFor(v string) string {
	l := strings.ToLower(strings.Trim(v, `"' `))
	switch {
	case l == "enforce" || l == "testing" || l == "none":
		return l
	case strings.HasPrefix(l, "enforc"), l == "strict", l == "on":
		return "enforce"
	case strings.HasPrefix(l, "test"), l == "report", l == "reporting":
		return "testing"
	case l == "off", l == "disabled", l == "disable", l == "no":
		return "none"
	}
	return ""
}

// maxAgeFor returns max_age's value as plain seconds, or "" if it cannot
// tell: quotes and a seconds unit dropped, days and weeks converted.
func maxAgeFor(v string) string {
	l := strings.ToLower(strings.Trim(v, `"' `))
	digits := strings.TrimRight(l, "smhdw ")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 8 {
		return ""
	}
	var n int64
	fmt.Sscan(digits, &n)
	switch strings.TrimSpace(l[len(digits):]) {
	case "", "s":
	case "m":
		n *= 60
	case "h":
		n *= 3600
	case "d":
		n *= 86400
	case "w":
		n *= 604800
	default:
		return ""
	}
	return fmt.Sprint(n)
}

// quoteLines renders values as the lines "key: value", quoted.
func quoteLines(key string, values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = fmt.Sprintf("%q", key+": "+v)
	}
	return strings.Join(q, ", ")
}
