package redisstore_test

import (
	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/cache/redisstore"
	"github.com/redis/go-redis/v9"
)

// A fleet of MTAs shares policies: each has its own Cache in memory, all in
// front of one Redis.
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // so that Store.Timeout bounds network I/O
	})
	defer client.Close()

	c := cache.New(100_000, &redisstore.Store{Client: client, Prefix: "mtasts:"})
	_ = c // give it to the resolver
}
