package testserver

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestSlowFaultCutShortNeverAnswers waits on each slow HTTP fault until the
// wait is cut short, by the client's TLS close_notify (what a Go client
// sends when its deadline closes the connection) or by the world closing,
// and checks that no complete response ever comes: a stalled server must
// not turn into one that answers 200 without headers.
func TestSlowFaultCutShortNeverAnswers(t *testing.T) {
	for _, fault := range []Fault{SlowHeaders(time.Hour), Trickle(time.Hour)} {
		for _, cut := range []string{"close_notify", "world_closes"} {
			t.Run(faultName(fault)+"/"+cut, func(t *testing.T) {
				w := startDomain(t)
				w.Fault("mta-sts.example.test", fault)
				c, err := tls.Dial("tcp", w.HTTPSAddr(), &tls.Config{RootCAs: w.RootCAs(), ServerName: "mta-sts.example.test"})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, "GET "+WellKnownPath+" HTTP/1.1\r\nHost: mta-sts.example.test\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 1000 && w.Fetches("example.test") == 0; i++ {
					time.Sleep(5 * time.Millisecond)
				}
				if w.Fetches("example.test") == 0 {
					t.Fatal("the request did not arrive")
				}
				if cut == "close_notify" {
					if err := c.CloseWrite(); err != nil {
						t.Fatal(err)
					}
				} else {
					w.Close()
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					return // no response at all
				}
				body, err := io.ReadAll(resp.Body)
				if err == nil {
					t.Errorf("got a complete response: %d %v %q", resp.StatusCode, resp.Header, body)
				}
			})
		}
	}
}

func faultName(f Fault) string {
	switch f.(type) {
	case SlowHeaders:
		return "slow_headers"
	case Trickle:
		return "trickle"
	}
	return "fault"
}
