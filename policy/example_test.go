package policy_test

import (
	"errors"
	"fmt"

	"github.com/mtasts-go/mtasts/policy"
)

func ExampleParse() {
	body := []byte("version: STSv1\r\n" +
		"mode: enforce\r\n" +
		"mx: mail.example.com\r\n" +
		"mx: *.example.net\r\n" +
		"max_age: 604800\r\n")
	p, warnings, err := policy.Parse(body)
	if err != nil {
		fmt.Println("invalid policy:", err)
		return
	}
	fmt.Println(p.Mode, p.MaxAgeDuration(), p.MX, len(warnings))
	// Output: enforce 168h0m0s [mail.example.com *.example.net] 0
}

func ExampleParse_warnings() {
	body := []byte("version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 99999999\nreport: yes\n")
	p, warnings, err := policy.Parse(body)
	if err != nil {
		fmt.Println("invalid policy:", err)
		return
	}
	fmt.Println(p.MX[0], p.MaxAge)
	for _, w := range warnings {
		fmt.Println(w)
	}
	// Output:
	// mx.example.com 31557600
	// line 4: "max_age": max_age above 31557600 capped to 31557600
	// line 5: "report": unknown key kept as an extension
}

func ExampleParse_error() {
	_, _, err := policy.Parse([]byte("version: STSv1\nmode: Enforce\nmx: mail.example.com\nmax_age: 86400\n"))
	var se *policy.SyntaxError
	if errors.As(err, &se) {
		fmt.Println("line", se.Line, "key", se.Key, errors.Is(err, policy.ErrBadMode))
	}
	fmt.Println(err)
	// Output:
	// line 2 key mode true
	// policy: line 2: "mode": "Enforce": mode must be enforce, testing or none
}

func ExamplePolicy_String() {
	p := &policy.Policy{Mode: policy.ModeEnforce, MaxAge: 86400, MX: []string{"mx1.example.com", "*.mx.example.com"}}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", p.String()) // lines end in CRLF, as RFC 8461 writes them
	// Output:
	// "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n"
}

func ExampleParseTXT() {
	// All TXT records found at _mta-sts.example.com, each record's strings
	// already joined.
	txts := []string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"}
	r, err := policy.ParseTXT(txts)
	switch {
	case errors.Is(err, policy.ErrNoRecord), errors.Is(err, policy.ErrMultipleRecords):
		fmt.Println("no policy")
	case err != nil:
		fmt.Println("invalid record, so no policy:", err)
	default:
		fmt.Println("policy id", r.ID)
	}
	// Output: policy id 20160831085700Z
}
