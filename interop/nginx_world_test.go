package interop

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// vhost is one policy host served by nginx: https://mta-sts.<domain>/.
type vhost struct {
	domain string
	ip     string          // the address nginx listens on for it
	listen string          // the listen parameters after the address: "ssl", "ssl http2"
	tls    string          // ssl_protocols for the listener ("" for TLSv1.2 TLSv1.3)
	cert   tls.Certificate // its certificate
	body   string          // /.well-known/mta-sts.txt, if not ""
	gz     []byte          // /.well-known/mta-sts.txt.gz, served with gzip_static always
	conf   string          // more directives for the policy's location
}

// nginxWorld is an nginx serving policy hosts on one port of several
// loopback addresses.
type nginxWorld struct {
	dir  string
	port int
	proc *proc
}

// startNginx starts nginx serving hosts, every listener on port (a free
// port if 0) of its host's address.
func startNginx(t testing.TB, port int, hosts []vhost) *nginxWorld {
	t.Helper()
	bin := need(t, "nginx")[0]
	dir := t.TempDir()
	var ips []string
	for _, h := range hosts {
		if !slices.Contains(ips, h.ip) {
			ips = append(ips, h.ip)
		}
	}
	if port == 0 {
		port = freePort(t, ips...)
	} else {
		for _, ip := range ips {
			requirePortFree(t, ip, port)
		}
	}
	for _, sub := range []string{"tmp", "www", "tls"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var conf strings.Builder
	// The workers run as root: the test's temporary directory is not
	// readable by www-data.
	fmt.Fprintf(&conf, `user root;
worker_processes 1;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
	log_format interop '$ssl_server_name $server_protocol $ssl_protocol $status "$http_accept_encoding" "$http_user_agent" "$sent_http_content_type" "$sent_http_content_encoding"';
	access_log %[1]s/access.log interop;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	types { text/plain txt; }
	default_type application/octet-stream;
	server_tokens off;
	sendfile on;
`, dir)
	for _, h := range hosts {
		name := "mta-sts." + h.domain
		root := filepath.Join(dir, "www", name)
		wk := filepath.Join(root, ".well-known")
		if err := os.MkdirAll(wk, 0o755); err != nil {
			t.Fatal(err)
		}
		if h.body != "" {
			if err := os.WriteFile(filepath.Join(wk, "mta-sts.txt"), []byte(h.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if h.gz != nil {
			if err := os.WriteFile(filepath.Join(wk, "mta-sts.txt.gz"), h.gz, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		certFile, keyFile := writeCertPair(t, filepath.Join(dir, "tls"), name, h.cert)
		protocols := h.tls
		if protocols == "" {
			protocols = "TLSv1.2 TLSv1.3"
		}
		fmt.Fprintf(&conf, `	server {
		listen %s %s;
		server_name %s;
		ssl_certificate %s;
		ssl_certificate_key %s;
		ssl_protocols %s;
		root %s;
		location = /.well-known/mta-sts.txt {
			%s
		}
	}
`, net.JoinHostPort(h.ip, strconv.Itoa(port)), h.listen, name, certFile, keyFile, protocols, root, h.conf)
	}
	conf.WriteString("}\n")
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// -e: the error log of the start, before the configuration is read
	// (else /var/log/nginx/error.log).
	p := startProc(t, "nginx", dir, bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	for _, ip := range ips {
		waitFor(t, "nginx listens on "+ip, startTimeout, p, dialable(net.JoinHostPort(ip, strconv.Itoa(port))))
	}
	return &nginxWorld{dir: dir, port: port, proc: p}
}

// accessLog returns the lines of nginx's access log for the policy host
// of domain: "server-name protocol tls-version status "accept-encoding"
// "user-agent" "content-type" "content-encoding"".
func (n *nginxWorld) accessLog(t testing.TB, domain string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(n.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "mta-sts."+domain+" ") {
			out = append(out, s.Text())
		}
	}
	return out
}

// errorLog returns the end of nginx's error log.
func (n *nginxWorld) errorLog() string { return tailFile(filepath.Join(n.dir, "error.log"), 10) }

// writeCertPair writes c's chain and key as PEM files named after name in
// dir and returns their paths.
func writeCertPair(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
