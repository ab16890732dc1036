package resolver

import (
	"log/slog"
	"strings"
	"time"
)

// Bounds of the patterns named in a mismatch's reason.
const (
	reasonMaxPatterns = 5
	reasonMaxBytes    = 200
)

// mismatchReason returns ReasonMismatch followed by the policy's patterns,
// truncated, so that a log line says what the MX host failed to match.
func mismatchReason(mx []string) string {
	var b strings.Builder
	b.WriteString(ReasonMismatch)
	b.WriteString(" (policy mx: ")
	for i, m := range mx {
		if i == reasonMaxPatterns || b.Len()+len(m) > reasonMaxBytes {
			b.WriteString("...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m)
	}
	b.WriteByte(')')
	return b.String()
}

// String renders the decision on one line, for logs and errors: the action,
// the domain and MX host, the reason, then what is known of the policy and
// any failure. It never prints the policy's lines.
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Action.String())
	b.WriteByte(' ')
	b.WriteString(d.Domain)
	b.WriteString(" mx ")
	b.WriteString(d.MX)
	b.WriteString(": ")
	b.WriteString(d.Reason)
	sep := " ["
	field := func(k, v string) {
		if v == "" {
			return
		}
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(v)
		sep = ", "
	}
	if d.Policy != nil {
		field("mode", d.Mode.String())
	}
	field("id", d.PolicyID)
	if d.Source != SourceNone {
		field("source", d.Source.String())
	}
	field("result", string(d.Result))
	if d.DANEStatus != DANENone {
		field("dane", d.DANEStatus.String())
	}
	if !d.GraceEnds.IsZero() {
		field("grace ends", d.GraceEnds.UTC().Format(time.RFC3339))
	}
	if d.Err != nil {
		field("err", oneLine(d.Err.Error()))
	}
	if sep == ", " {
		b.WriteByte(']')
	}
	return b.String()
}

// LogValue implements slog.LogValuer: the decision as a group of its
// fields (action, domain, mx, reason, and mode, id, source, result,
// require_tls, dane, grace_ends, err when set), never the policy's lines nor the
// resolver behind the decision.
func (d Decision) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("action", d.Action.String()),
		slog.String("domain", d.Domain),
		slog.String("mx", d.MX),
		slog.String("reason", d.Reason))
	if d.Policy != nil {
		attrs = append(attrs, slog.String("mode", d.Mode.String()))
	}
	if d.PolicyID != "" {
		attrs = append(attrs, slog.String("id", d.PolicyID))
	}
	if d.Source != SourceNone {
		attrs = append(attrs, slog.String("source", d.Source.String()))
	}
	if d.Result != "" {
		attrs = append(attrs, slog.String("result", string(d.Result)))
	}
	if d.RequireTLS {
		attrs = append(attrs, slog.Bool("require_tls", true))
	}
	if d.DANEStatus != DANENone {
		attrs = append(attrs, slog.String("dane", d.DANEStatus.String()))
	}
	if !d.GraceEnds.IsZero() {
		attrs = append(attrs, slog.Time("grace_ends", d.GraceEnds))
	}
	if d.Err != nil {
		attrs = append(attrs, slog.String("err", oneLine(d.Err.Error())))
	}
	return slog.GroupValue(attrs...)
}

// oneLine replaces line breaks, which a remote server's text may carry
// into an error, with spaces.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
