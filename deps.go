//go:build tools

package mtasts

import (
	_ "github.com/emersion/go-smtp"
	_ "github.com/hashicorp/golang-lru/v2"
	_ "github.com/miekg/dns"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/idna"
	_ "golang.org/x/sync/singleflight"
)
