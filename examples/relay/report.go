package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtasts-go/mtasts/internal/dnsclient"
	"github.com/mtasts-go/mtasts/tlsrpt"
	"github.com/mtasts-go/mtasts/tlsrpt/redisreport"
)

// reportFlags are the flags of the TLS-RPT Reporter.
type reportFlags struct {
	dir, org, contact                 string
	dkimKey, dkimSelector, dkimDomain string
	unsigned                          bool
	submit, submitTLS, submitName     string
	submitUser                        string
	maxDelay, clockOffset             time.Duration
	redisAddr, nodeID                 string
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dir, "tlsrpt", "", "`DIR` to keep the TLS-RPT state in (journal and snapshot) and send the daily reports from")
	fs.StringVar(&f.org, "report-org", "mtasts relay", "organization-name of the reports")
	fs.StringVar(&f.contact, "report-contact", "", "contact-info of the reports, and the address they are mailed from (default tlsrpt@HOSTNAME)")
	fs.StringVar(&f.dkimKey, "dkim-key", "", "PEM `FILE` of the PKCS#8 private key (RSA or Ed25519) that signs report mail")
	fs.StringVar(&f.dkimSelector, "dkim-selector", "tlsrpt", "DKIM selector of -dkim-key")
	fs.StringVar(&f.dkimDomain, "dkim-domain", "", "DKIM signing domain (default: the domain of -report-contact)")
	fs.BoolVar(&f.unsigned, "report-unsigned", false, "mail reports without a DKIM signature (the submission server signs them)")
	fs.StringVar(&f.submit, "submit", "", "submission server `HOST:PORT` that report mail goes through")
	fs.StringVar(&f.submitTLS, "submit-tls", "starttls", "TLS with the submission server: starttls, implicit or none (loopback only)")
	fs.StringVar(&f.submitName, "submit-servername", "", "name the submission server's certificate must have (default: the host of -submit)")
	fs.StringVar(&f.submitUser, "submit-user", "", "AUTH PLAIN user at the submission server; the password comes from $RELAY_SUBMIT_PASSWORD")
	fs.DurationVar(&f.maxDelay, "report-max-delay", tlsrpt.DefaultMaxDelay, "reports go out at a random time up to this long after 00:00 UTC")
	fs.StringVar(&f.redisAddr, "report-redis", "", "Redis `HOST:PORT` that a fleet of relays shares its counts through; each report is sent once")
	fs.StringVar(&f.nodeID, "report-node", "", "this relay's node id in reports and in the fleet, letters and digits (default: from the host name)")
	fs.DurationVar(&f.clockOffset, "report-clock-offset", 0, "shift the Reporter's clock by this much (to simulate a day in tests)")
}

// offsetClock is the system clock shifted by an offset.
type offsetClock time.Duration

func (c offsetClock) Now() time.Time { return time.Now().Add(time.Duration(c)) }

func (c offsetClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// newReporter starts the Reporter the flags describe; closing it closes
// what it uses.
func (f *reportFlags) newReporter(log *slog.Logger, hostname string, dc *dnsclient.Client, roots *x509.CertPool, httpsPort int) (*reporter, error) {
	contact := f.contact
	if contact == "" {
		contact = "tlsrpt@" + hostname
	}
	o := tlsrpt.ReporterOptions{
		OrganizationName: f.org,
		ContactInfo:      contact,
		Dir:              f.dir,
		DNS:              dc,
		SendUnsignedMail: f.unsigned,
		Delivery:         tlsrpt.SenderOptions{DNS: dc.Servers(), RootCAs: roots, HTTPSPort: httpsPort},
		Clock:            offsetClock(f.clockOffset),
		MaxDelay:         f.maxDelay,
		OnDelivery: func(e tlsrpt.DeliveryEvent) {
			switch {
			case e.Err == nil:
				log.Info("tlsrpt: report delivered", "day", e.Day.Format(time.DateOnly), "domain", e.Domain)
			case e.Final:
				log.Warn("tlsrpt: report given up", "day", e.Day.Format(time.DateOnly), "domain", e.Domain, "err", e.Err)
			default:
				log.Warn("tlsrpt: report not delivered yet", "day", e.Day.Format(time.DateOnly), "domain", e.Domain, "err", e.Err)
			}
		},
	}
	if f.maxDelay == 0 {
		o.MaxDelay = -1 // no delay
	}
	if f.submit != "" {
		o.Submit = tlsrpt.SubmitSMTP(tlsrpt.SubmitOptions{
			Addr:      f.submit,
			TLS:       f.submitTLS,
			TLSConfig: &tls.Config{RootCAs: roots, ServerName: f.submitName},
			Username:  f.submitUser,
			Password:  os.Getenv("RELAY_SUBMIT_PASSWORD"),
		})
	}
	if f.dkimKey != "" {
		key, err := readKey(f.dkimKey)
		if err != nil {
			return nil, fmt.Errorf("-dkim-key %s: %w", f.dkimKey, err)
		}
		domain := f.dkimDomain
		if domain == "" {
			domain = contact[strings.LastIndexByte(contact, '@')+1:]
		}
		o.DKIM = &tlsrpt.DKIM{Domain: domain, Selector: f.dkimSelector, Signer: key}
	}
	o.NodeID = f.nodeID
	var rc *redis.Client
	if f.redisAddr != "" {
		rc = redis.NewClient(&redis.Options{Addr: f.redisAddr, ContextTimeoutEnabled: true})
		o.Fleet = &redisreport.Fleet{Client: rc}
	}
	rep, err := tlsrpt.NewReporter(o)
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, err
	}
	return &reporter{rep, rc}, nil
}

// reporter is a Reporter and its Redis client, if any.
type reporter struct {
	*tlsrpt.Reporter
	redis *redis.Client
}

// Close closes the Reporter, then the client it pushes through.
func (r *reporter) Close() error {
	err := r.Reporter.Close()
	if r.redis != nil {
		r.redis.Close()
	}
	return err
}

// readKey reads a PKCS#8 private key in PEM.
func readKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", k)
	}
	return s, nil
}
