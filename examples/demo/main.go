// Command demo shows what mtasts does, on data embedded in the program: it
// parses an "_mta-sts" TXT record and a policy file and prints what a sender
// would do with them.
//
//	go run ./examples/demo
package main

import (
	"fmt"
	"os"

	"github.com/mtasts-go/mtasts/policy"
)

// The TXT strings found at _mta-sts.example.com and the policy file served at
// https://mta-sts.example.com/.well-known/mta-sts.txt (RFC 8461, section 3).
var (
	txt  = []string{"v=spf1 -all", "v=STSv1; id=20160831085700Z;"}
	body = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\nreport: weekly\r\n"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	rec, err := policy.ParseTXT(txt)
	if err != nil {
		return err
	}
	fmt.Printf("TXT _mta-sts.example.com   %s\n", rec)
	p, warnings, err := policy.Parse([]byte(body))
	if err != nil {
		return err
	}
	fmt.Printf("policy id                  %s\n", rec.ID)
	fmt.Printf("mode                       %s\n", p.Mode)
	fmt.Printf("cache for                  %s\n", p.MaxAgeDuration())
	for _, mx := range p.MX {
		fmt.Printf("acceptable MX              %s\n", mx)
	}
	for _, w := range warnings {
		fmt.Printf("warning                    %s\n", w)
	}
	fmt.Println()
	fmt.Println("canonical policy file:")
	fmt.Print(p)
	return nil
}
