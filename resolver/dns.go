package resolver

import "github.com/mtasts-go/mtasts/internal/dnsclient"

// DNSError reports a failed DNS lookup. Temporary is true when the answer
// is unknown (SERVFAIL, REFUSED, a timeout, no server reachable), false when
// the DNS is known to be broken for the name (a CNAME chain longer than 8
// or looping). A name that does not exist or has no record of the type is
// not an error: the domain has no policy.
type DNSError = dnsclient.Error
