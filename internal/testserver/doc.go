// Package testserver is a whole mail world on loopback, for the tests of
// every package that does I/O and for the demo: nothing in the project mocks
// DNS or HTTP.
//
// A [World] runs
//
//   - an authoritative DNS server (github.com/miekg/dns) on one port for UDP
//     and TCP, whose records are set in code (TXT, A, AAAA, MX, CNAME, and
//     any other type through [World.AddRecords], TLSA through
//     [World.SetTLSA]) and which counts the queries it receives; it plays a
//     validating resolver for DANE tests: the AD bit for names of a zone
//     marked [World.SetSecure], SERVFAIL with an Extended DNS Error for a
//     [Bogus] fault;
//   - a throwaway certificate authority ([CA], ECDSA P-256) that clients
//     trust through [World.RootCAs] or [World.CAPEM], and which mints a
//     certificate for every name a client asks for by SNI;
//   - one HTTPS listener for every host (SNI picks the certificate, the Host
//     header the site) serving /.well-known/mta-sts.txt and recording POSTs
//     (TLS-RPT reports);
//   - one SMTP server with STARTTLS per MX host, each on its own address
//     ([World.SMTPAddr]), so that a test sees which MX a client reached; it
//     records the messages it accepts.
//
// Everything listens on 127.0.0.1 (or another loopback address), on ports
// the system picks: clients reach the HTTPS server by resolving the policy
// host through [World.DNSAddr] and dialling [World.HTTPSPort] instead of
// 443, or through [World.DialContext]. The world needs no privileges.
//
// [World.AddDomain] publishes a whole MTA-STS domain in one call, and the
// world can change at any time while clients use it: [World.SetPolicy]
// publishes a new policy id, [World.Fault] breaks a name's DNS, HTTPS, TLS
// or SMTP in one of many ways, and [World.Fault] with no faults mends it:
//
//	w := testserver.Start(t)
//	w.AddDomain("example.test", testserver.Policy{Mode: "enforce", MX: []string{"mx1.example.test"}, MaxAge: 86400})
//	// ... the client fetches the policy ...
//	w.SetPolicy("example.test", testserver.Policy{Mode: "testing", MX: []string{"mx1.example.test"}, MaxAge: 86400})
//	w.Fault("mta-sts.example.test", testserver.Status(500))
//
// Close stops every server, ends every slow fault and returns only when
// every goroutine of the world has finished.
package testserver
