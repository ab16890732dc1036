package interop

import (
	"bufio"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postfixInstance is a private Postfix: its own configuration, queue and
// data directories and log file, its smtpd on a loopback port, its master
// in a mount namespace of its own where /etc/resolv.conf names the test's
// Unbound.
type postfixInstance struct {
	dir    string // config_directory
	smtpd  string // host:port of its smtpd
	log    string // maillog_file
	master *proc
	bins   map[string]string
}

// postfixConfig is what a test chooses of a Postfix instance.
type postfixConfig struct {
	ip        string // smtpd's address
	resolver  string // the one name server of its resolv.conf (port 53)
	policyMap string // smtp_tls_policy_maps
	caFile    string // smtp_tls_CAfile
	// transports are the lines of transport_maps ("domain transport:"),
	// masterExtra more lines of master.cf (the transports' services).
	transports  string
	masterExtra string
}

// startPostfix configures and starts a private Postfix instance.
func startPostfix(t testing.TB, cfg postfixConfig) *postfixInstance {
	t.Helper()
	names := []string{"postfix", "postconf", "postmap", "postqueue", "unshare", "mount"}
	paths := need(t, names...)
	needRoot(t)
	bins := map[string]string{}
	for i, n := range names {
		bins[n] = paths[i]
	}
	out, err := exec.Command(bins["postconf"], "-h", "daemon_directory").Output()
	if err != nil {
		t.Fatalf("postconf: %v", err)
	}
	bins["master"] = filepath.Join(strings.TrimSpace(string(out)), "master")
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("no postfix user: %v", err)
	}
	uid, _ := strconv.Atoi(pfUser.Uid)
	gid, _ := strconv.Atoi(pfUser.Gid)

	dir := openTempDir(t)
	queue, data := filepath.Join(dir, "queue"), filepath.Join(dir, "data")
	for _, d := range []string{queue, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "maillog")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, cfg.ip)
	pf := &postfixInstance{dir: dir, smtpd: net.JoinHostPort(cfg.ip, strconv.Itoa(port)), log: logFile, bins: bins}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postfix maillog:%s", pf.tail())
		}
	})

	mainCf := fmt.Sprintf(`# A private instance for the interop tests.
compatibility_level = 3.6
queue_directory = %[1]s
data_directory = %[2]s
mail_owner = postfix
setgid_group = postdrop
maillog_file = %[3]s
maillog_file_prefixes = %[4]s
myhostname = sender.interop.test
mydomain = interop.test
myorigin = $myhostname
mydestination =
relay_domains =
# Postfix accepts only addresses configured on an interface here, and lo
# holds 127.0.0.1 alone (127.0.0.0/8 is routed to it): smtpd listens on
# its own address through master.cf, and the MX hosts, at other addresses,
# are not taken for this host.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
biff = no
append_dot_mydomain = no
smtputf8_enable = no
delay_warning_time = 0
smtp_host_lookup = dns
smtp_dns_support_level = enabled
smtp_connect_timeout = 10s
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tls_CAfile = %[5]s
smtp_tls_policy_maps = %[6]s
transport_maps = texthash:%[7]s
`, queue, data, logFile, dir, cfg.caFile, cfg.policyMap, filepath.Join(dir, "transport"))
	// Every service runs without chroot, so that smtp(8) reads the
	// namespace's /etc/resolv.conf.
	masterCf := fmt.Sprintf(`%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
%s`, pf.smtpd, cfg.masterExtra)
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.cf"), []byte(masterCf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "transport"), []byte(cfg.transports), 0o644); err != nil {
		t.Fatal(err)
	}
	resolvConf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("nameserver "+cfg.resolver+"\noptions attempts:1 timeout:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bins["postfix"], "-c", dir, "post-install", "create-missing").CombinedOutput(); err != nil {
		t.Fatalf("postfix post-install create-missing: %v\n%s", err, b)
	}
	// The master runs in the foreground (it daemonizes only with -w), in a
	// private mount namespace (unshare's default propagation is private:
	// the bind mount is seen by Postfix alone).
	pf.master = startSessionLeader(t, "postfix-master", dir, bins["unshare"], "-m", "sh", "-c",
		`mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3" -s`, "sh", resolvConf, bins["master"], dir)
	waitFor(t, "postfix smtpd answers", startTimeout, pf.master, func() error {
		c, err := net.DialTimeout("tcp", pf.smtpd, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "220 ") {
			return fmt.Errorf("banner %q, %v", line, err)
		}
		return nil
	})
	return pf
}

// openTempDir returns t.TempDir(), made searchable (mode 0755, and its
// parent, also the test's) for Postfix's unprivileged processes.
func openTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// submit sends one message from from to to through the instance's smtpd.
func (pf *postfixInstance) submit(t testing.TB, from, to, subject string) {
	t.Helper()
	msg := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%d.%s>\r\n\r\nA message of the interop tests.\r\n",
		from, to, subject, time.Now().UnixNano(), from)
	if err := smtp.SendMail(pf.smtpd, nil, from, []string{to}, []byte(msg)); err != nil {
		t.Fatalf("submit to %s: %v%s", to, err, pf.tail())
	}
}

// waitStatus waits until the log holds a delivery attempt to rcpt after
// the first seen ones, and fails the test unless that attempt ended with
// status (sent, deferred, bounced). It returns the attempt's line.
func (pf *postfixInstance) waitStatus(t testing.TB, rcpt, status string, seen int, limit time.Duration) string {
	t.Helper()
	var lines []string
	waitFor(t, "postfix logs a delivery attempt to "+rcpt, limit, pf.master, func() error {
		lines = pf.attempts(t, rcpt)
		if len(lines) <= seen {
			return errNotYet
		}
		return nil
	})
	l := lines[seen]
	if !strings.Contains(l, "status="+status+" ") {
		t.Fatalf("delivery to %s: %s; want status=%s", rcpt, l, status)
	}
	return l
}

// attempts returns the log lines of the delivery attempts to rcpt, in
// order.
func (pf *postfixInstance) attempts(t testing.TB, rcpt string) []string {
	var out []string
	for _, l := range pf.lines(t) {
		if strings.Contains(l, "to=<"+rcpt+">") && strings.Contains(l, " status=") {
			out = append(out, l)
		}
	}
	return out
}

// statuses returns the status= words logged for rcpt, in order.
func (pf *postfixInstance) statuses(t testing.TB, rcpt string) []string {
	var out []string
	for _, l := range pf.lines(t) {
		if !strings.Contains(l, "to=<"+rcpt+">") {
			continue
		}
		if _, s, ok := strings.Cut(l, "status="); ok {
			s, _, _ = strings.Cut(s, " ")
			out = append(out, s)
		}
	}
	return out
}

// lines returns the lines of the instance's log.
func (pf *postfixInstance) lines(t testing.TB) []string {
	b, err := os.ReadFile(pf.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), "\n")
}

// logged reports whether a line of the log holds s.
func (pf *postfixInstance) logged(t testing.TB, s string) bool { return pf.count(t, s) > 0 }

// count returns how many lines of the log hold s.
func (pf *postfixInstance) count(t testing.TB, s string) int {
	n := 0
	for _, l := range pf.lines(t) {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// flush asks Postfix to retry every deferred message now.
func (pf *postfixInstance) flush(t testing.TB) {
	t.Helper()
	if b, err := exec.Command(pf.bins["postqueue"], "-c", pf.dir, "-f").CombinedOutput(); err != nil {
		t.Fatalf("postqueue -f: %v\n%s", err, b)
	}
}

// postmap runs "postmap -q key table" with the instance's configuration,
// as root or, with asPostfix, as the postfix user, and returns its output
// and exit status.
func (pf *postfixInstance) postmap(t testing.TB, key, table string, asPostfix bool) (string, int) {
	t.Helper()
	argv := []string{pf.bins["postmap"], "-c", pf.dir, "-q", key, table}
	if asPostfix {
		argv = append([]string{"setpriv", "--reuid=postfix", "--regid=postfix", "--init-groups", "--"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", strings.Join(argv, " "), err)
		}
		code = ee.ExitCode()
	}
	return strings.TrimSpace(string(out)), code
}

// tail returns the end of the instance's log.
func (pf *postfixInstance) tail() string { return tailFile(pf.log, 25) }
