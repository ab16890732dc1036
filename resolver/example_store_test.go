package resolver_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mtasts-go/mtasts/cache"
	"github.com/mtasts-go/mtasts/resolver"
)

// A resolver that keeps its policies in a directory survives a restart
// (even kill -9) without refetching them: New returns at once and loads
// the stored policies in the background, a policy not yet loaded is read
// from the directory and served without a fetch, and store writes never
// hold up a verdict (Close commits the last ones).
func Example_dirStore() {
	w, opts := world()
	defer w.Close()
	dir, err := os.MkdirTemp("", "mtasts-cache")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts.Store = &cache.DirStore{Dir: dir}
	opts.Events.StoreError = func(err error) { log.Print(err) } // a store's trouble never stops delivery
	ctx := context.Background()

	r, err := resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	d, err := r.Check(ctx, "example.test", "mx1.example.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first run:", d.Action, d.Source)
	r.Close() // commits the pending store writes

	// The restart: the policy comes from the directory, not the network.
	w.Close()
	r, err = resolver.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	d, err = r.Check(ctx, "example.test", "mx1.example.test")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after a restart:", d.Action, d.Source, d.PolicyID)
	// Output:
	// first run: deliver fetched
	// after a restart: deliver cache 20261123
}
