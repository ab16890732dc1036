package dane_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/mtasts-go/mtasts/dane"
	"github.com/mtasts-go/mtasts/validate"
)

func ExampleParse() {
	r, err := dane.Parse("3 1 1 0c72ac70b745ac19998811b131d662c9 ac69dbdbe7cb23e5b514b56664c5d3d6")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Usage, r.Selector, r.MatchingType)
	fmt.Println(r)
	fmt.Println(r.Check())
	// Output:
	// DANE-EE(3) SPKI(1) SHA2-256(1)
	// 3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6
	// <nil>
}

// A Set keeps the records that authenticate the server: here the SHA-512
// record hides the SHA-256 one of the same usage and selector (RFC 7671
// section 9), and PKIX-EE is not for SMTP.
func ExampleNewSet() {
	var records []dane.Record
	for _, s := range []string{
		"3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
		"3 1 2 92003BA34942DC74152E2F2C408D29ECA5A520E7F2E06BB944F4DCA346BAF63C1B177615D466F6C4B71C216A50292BD58C9EBDD2F74E38FE51FFD48C43326CBC",
		"1 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
	} {
		r, err := dane.Parse(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		records = append(records, r)
	}
	set, err := dane.NewSet("MX1.Example.COM.", records)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("base:", set.Base())
	for _, r := range set.Usable() {
		fmt.Printf("used: %d %d %d\n", r.Usage, r.Selector, r.MatchingType)
	}
	for _, ig := range set.Ignored() {
		fmt.Printf("ignored: %d %d %d: %v\n", ig.Record.Usage, ig.Record.Selector, ig.Record.MatchingType, ig.Err)
	}
	// Output:
	// base: mx1.example.com
	// used: 3 1 2
	// ignored: 1 1 1: pkix usage unusable for smtp
	// ignored: 3 1 1: weaker digest than another record
}

// An MTA connects to an MX host whose TLSA records it looked up with
// DNSSEC: "3 1 1" with the digest of the server's key. The server here is
// in memory, with a self-signed certificate, as DANE-EE servers may have.
func ExampleTLSConfig() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self-signed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)

	set, _ := dane.NewSet("mx1.example.com", []dane.Record{
		{Usage: dane.DANEEE, Selector: dane.SPKI, MatchingType: dane.SHA256, Data: sum[:]},
	})
	cfg := dane.TLSConfig(set, nil, dane.Options{
		Report: func(err error) { fmt.Printf("report: %q\n", validate.ResultOf(err)) },
	})

	client, server := net.Pipe()
	defer client.Close()
	sni := make(chan string, 1)
	go func() {
		defer server.Close()
		tls.Server(server, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sni <- h.ServerName
			return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
		}}).Handshake()
	}()
	err := tls.Client(client, cfg).Handshake()
	fmt.Println("SNI:", <-sni)
	fmt.Println("handshake:", err)
	// Output:
	// report: ""
	// SNI: mx1.example.com
	// handshake: <nil>
}

// A server whose key matches no record fails the handshake, with the
// result type that a TLS-RPT report gives it.
func ExampleSet_Verify() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	r, _ := dane.Parse("3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6")
	set, _ := dane.NewSet("mx1.example.com", []dane.Record{r})
	err := set.Verify([]*x509.Certificate{cert}, nil, time.Now())
	fmt.Println(err)
	fmt.Println(validate.ResultOf(err))
	// Output:
	// validate: mx1.example.com: tlsa-invalid: certificate matches no tlsa record
	// tlsa-invalid
}
