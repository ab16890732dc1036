package cache

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/mtasts-go/mtasts/policy"
)

// MaxEncodedSize is the largest encoded entry that stores write or read:
// 256 KiB. A policy body is at most 64 KiB when fetched (RFC 8461 leaves the
// limit to the sender; this project reads at most 64 KiB), and JSON at worst
// doubles it (every '"' or '\' escaped); the rest is the envelope and a
// failure text of at most 1 KiB. Anything larger is not an entry.
const MaxEncodedSize = 256 << 10

// encodingVersion is the version of the encoding that MarshalBinary writes.
const encodingVersion = 1

// The encoding is a JSON envelope
//
//	{"v":1,"crc32c":"1a2b3c4d","entry":{...}}
//
// whose checksum covers the exact bytes of "entry", so that a torn or
// damaged file or value is detected instead of read as a shorter policy. The
// policy is kept as its canonical text, which parses back to an equal
// policy: the file is readable, and the policy's own parser guards what is
// read back.
type envelope struct {
	V     int             `json:"v"`
	Sum   string          `json:"crc32c"`
	Entry json.RawMessage `json:"entry"`
}

type encodedEntry struct {
	Domain  string          `json:"domain"`
	ID      string          `json:"id,omitempty"`
	Policy  string          `json:"policy,omitempty"`
	Expires time.Time       `json:"expires"`
	Checked time.Time       `json:"checked"`
	Failure *encodedFailure `json:"failure,omitempty"`
}

type encodedFailure struct {
	At  time.Time `json:"at"`
	ID  string    `json:"id,omitempty"`
	Err string    `json:"err,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary implements [encoding.BinaryMarshaler]: it encodes e in the
// versioned, self-checking format that [DirStore] and cache/redisstore
// write, at most [MaxEncodedSize] bytes. [ParseEntry] decodes it. It fails
// for an entry without a domain and for an invalid policy.
func (e *Entry) MarshalBinary() ([]byte, error) {
	if !e.valid() {
		return nil, ErrInvalid
	}
	x := encodedEntry{
		Domain:  e.domain,
		ID:      e.id,
		Expires: time.Unix(int64(e.expires), 0).UTC(),
		Checked: time.Unix(int64(e.checked), 0).UTC(),
	}
	if e.policy != nil {
		text, err := e.policy.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("cache: entry %q: %w", e.domain, err)
		}
		x.Policy = string(text)
	}
	if f := e.failure; f != nil {
		x.Failure = &encodedFailure{At: f.At.UTC(), ID: f.ID, Err: f.Err}
	}
	// Without HTML escaping: "<" in a policy's extension would otherwise
	// take six bytes.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&x); err != nil {
		return nil, fmt.Errorf("cache: entry %q: %w", e.domain, err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	var sum [4]byte
	crc := crc32.Checksum(body, castagnoli)
	sum[0], sum[1], sum[2], sum[3] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)

	b := make([]byte, 0, len(body)+48)
	b = fmt.Appendf(b, `{"v":%d,"crc32c":"%x","entry":`, encodingVersion, sum[:])
	b = append(b, body...)
	b = append(b, "}\n"...)
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("cache: entry %q: %w", e.domain, ErrTooLarge)
	}
	return b, nil
}

// ParseEntry decodes an entry encoded by [Entry.MarshalBinary]. Every error
// wraps [ErrCorrupt]: a torn write, a damaged file, an unknown version or an
// invalid policy all mean that the data is no entry.
func ParseEntry(data []byte) (*Entry, error) {
	if len(data) > MaxEncodedSize {
		return nil, corrupt("%w", ErrTooLarge)
	}
	env, ok := quickEnvelope(data)
	if !ok {
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, corrupt("%w", err)
		}
	}
	if env.V != encodingVersion {
		return nil, corrupt("unknown version %d", env.V)
	}
	sum, err := hex.DecodeString(env.Sum)
	if err != nil || len(sum) != 4 {
		return nil, corrupt("malformed checksum")
	}
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(env.Entry, castagnoli) != want {
		return nil, corrupt("checksum mismatch")
	}
	x, ok := quickEntry(env.Entry)
	if !ok {
		if err := json.Unmarshal(env.Entry, &x); err != nil {
			return nil, corrupt("%w", err)
		}
	}
	e := &Entry{
		domain:  x.Domain,
		id:      x.ID,
		expires: unix32(x.Expires.Unix()),
		checked: unix32(x.Checked.Unix()),
	}
	if !e.valid() {
		return nil, corrupt("missing domain")
	}
	if x.Policy != "" {
		p, _, err := policy.Parse([]byte(x.Policy))
		if err != nil {
			return nil, corrupt("%w", err)
		}
		e.policy = p
	} else if x.ID != "" {
		return nil, corrupt("id without a policy")
	}
	if f := x.Failure; f != nil {
		// The failure is side information: an over-long text is cut,
		// never a reason to lose the policy.
		e.failure = &Failure{At: time.Unix(f.At.Unix(), 0).UTC(), ID: f.ID, Err: failureText(f.Err)}
	}
	return e, nil
}

// quickEnvelope splits data as MarshalBinary writes it, byte for byte,
// without a JSON decoder: a store reads a million entries at start. Any
// other spelling of the envelope goes through encoding/json. The entry
// itself is always decoded by encoding/json, which checks it.
func quickEnvelope(data []byte) (envelope, bool) {
	const head = `{"v":1,"crc32c":"`
	const mid = `","entry":`
	const sumLen = 8
	rest, ok := bytes.CutPrefix(data, []byte(head))
	if !ok || len(rest) < sumLen+len(mid) || !bytes.HasPrefix(rest[sumLen:], []byte(mid)) {
		return envelope{}, false
	}
	sum := rest[:sumLen]
	rest = rest[sumLen+len(mid):]
	if rest, ok = bytes.CutSuffix(rest, []byte("}\n")); !ok {
		return envelope{}, false
	}
	return envelope{V: 1, Sum: string(sum), Entry: rest}, true
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// Errors of the encoding.
var (
	// ErrCorrupt is wrapped by every error of [ParseEntry].
	ErrCorrupt = errors.New("cache: corrupt entry")
	// ErrTooLarge: an encoded entry above [MaxEncodedSize].
	ErrTooLarge = errors.New("cache: entry too large")
)
