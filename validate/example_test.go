package validate_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/mtasts-go/mtasts/policy"
	"github.com/mtasts-go/mtasts/validate"
)

func ExampleMatchMX() {
	fmt.Println(validate.MatchMX("*.example.com", "mx1.example.com"))
	fmt.Println(validate.MatchMX("*.example.com", "MX1.Example.COM."))
	fmt.Println(validate.MatchMX("*.example.com", "example.com"))
	fmt.Println(validate.MatchMX("*.example.com", "a.mx1.example.com"))
	fmt.Println(validate.MatchMX("mx.xn--bcher-kva.example", "mx.bücher.example"))
	// Output:
	// true
	// true
	// false
	// false
	// true
}

func ExampleAllows() {
	p, _, err := policy.Parse([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.backup.example.net\nmax_age: 86400\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mx := range []string{"mail.example.com", "mx2.backup.example.net", "mx.example.org"} {
		fmt.Println(mx, validate.Allows(p, mx))
	}
	// Output:
	// mail.example.com true
	// mx2.backup.example.net true
	// mx.example.org false
}

func ExampleMX() {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"*.example.com"}}
	err := validate.MX(p, "mx.example.net")
	fmt.Println(err)
	fmt.Println(errors.Is(err, validate.ErrMXMismatch), validate.ResultOf(err))
	// Output:
	// validate: mx.example.net: validation-failure: mx host not in policy
	// true validation-failure
}

// The chain would come from tls.ConnectionState.PeerCertificates; here the
// server presented none.
func ExampleCertificate() {
	err := validate.Certificate("mx1.example.com", nil, nil, time.Now())
	var e *validate.Error
	if errors.As(err, &e) {
		fmt.Println(e.Host, e.Result, e.Reason())
	}
	// Output:
	// mx1.example.com validation-failure no certificate presented
}

// An MTA about to deliver to mx1.example.com, for a domain whose policy it
// holds, gets the STARTTLS configuration in one call. Report receives the
// outcome of every verified handshake, to count for TLS-RPT.
func ExampleTLSConfig() {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"*.example.com"}}
	base := &tls.Config{MinVersion: tls.VersionTLS10} // the MTA's opportunistic defaults
	cfg := validate.TLSConfig(p, "MX1.Example.com.", base, validate.Options{
		Report: func(err error) {
			if r := validate.ResultOf(err); r != "" {
				fmt.Println("report failure:", r)
			}
		},
	})
	fmt.Println(cfg.ServerName, cfg.MinVersion == tls.VersionTLS12, cfg.InsecureSkipVerify)

	// A handshake would call cfg.VerifyConnection with the server's
	// ConnectionState; a server with no certificate fails it.
	err := cfg.VerifyConnection(tls.ConnectionState{Version: tls.VersionTLS13})
	fmt.Println(errors.Is(err, validate.ErrNoCertificate))
	// Output:
	// mx1.example.com true true
	// report failure: validation-failure
	// true
}

// Under a testing policy the handshake goes on, and the failure is only
// reported.
func ExampleVerifyConnection() {
	p := &policy.Policy{Mode: policy.ModeTesting, MaxAge: 86400, MX: []string{"mx.example.com"}}
	verify := validate.VerifyConnection(p, "mx.example.net", validate.Options{
		Report: func(err error) { fmt.Println("reported:", err) },
	})
	fmt.Println("handshake error:", verify(tls.ConnectionState{Version: tls.VersionTLS13}))
	// Output:
	// reported: validate: mx.example.net: validation-failure: mx host not in policy
	// handshake error: <nil>
}

func ExampleResultOf() {
	fmt.Println(validate.ResultOf(nil) == "")
	fmt.Println(validate.ResultOf(errors.New("tls: handshake failure")))
	fmt.Println(validate.ResultOf(&validate.Error{Result: validate.ResultCertificateExpired, Err: validate.ErrExpired}))
	// Output:
	// true
	// validation-failure
	// certificate-expired
}
