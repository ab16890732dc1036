package main

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mtasts-go/mtasts/resolver"
)

// Admin is what the HTTP endpoints act on: the resolver in use.
type Admin interface {
	Cached() iter.Seq[resolver.Entry]
	Purge(ctx context.Context, domain string) error
	PurgeAll(ctx context.Context) error
	Refresh(ctx context.Context, domain string) (*resolver.Entry, error)
}

// adminTimeout bounds a purge or refresh asked over HTTP.
const adminTimeout = 2 * time.Minute

// newHTTPHandler returns the handler of the -metrics listener:
//
//	GET  /metrics                   Prometheus metrics
//	GET  /healthz                   200 "ok" while the server runs
//	GET  /admin/policies            the cached policies, as JSON
//	GET  /admin/policies/{domain}   one domain's cached policy, or 404
//	POST /admin/purge/{domain}      forget a domain's policy ("*": all)
//	POST /admin/refresh/{domain}    look up and fetch a domain's policy now
//
// The admin endpoints answer loopback clients only (403 otherwise).
func newHTTPHandler(m *Metrics, a Admin, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /admin/policies", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		out := []policyJSON{}
		for e := range a.Cached() {
			out = append(out, toJSON(&e))
		}
		slices.SortFunc(out, func(x, y policyJSON) int { return strings.Compare(x.Domain, y.Domain) })
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /admin/policies/{domain}", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		d, err := resolver.Normalize(r.PathValue("domain"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		for e := range a.Cached() {
			if e.Domain == d {
				writeJSON(w, http.StatusOK, toJSON(&e))
				return
			}
		}
		writeJSON(w, http.StatusNotFound, errorJSON{"no cached policy for " + d})
	}))
	mux.HandleFunc("POST /admin/purge/{domain}", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		d := r.PathValue("domain")
		var err error
		if d == "*" {
			err = a.PurgeAll(ctx)
		} else {
			err = a.Purge(ctx, d)
		}
		var de *resolver.DomainError
		switch {
		case errors.As(err, &de):
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		case err != nil:
			// Memory is purged whatever the store says.
			log.Warn("admin purge: store", "domain", d, "err", err)
		}
		log.Info("admin purge", "domain", d, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]string{"purged": d})
	}))
	mux.HandleFunc("POST /admin/refresh/{domain}", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
		defer cancel()
		d := r.PathValue("domain")
		e, err := a.Refresh(ctx, d)
		log.Info("admin refresh", "domain", d, "remote", r.RemoteAddr, "err", err)
		var de *resolver.DomainError
		if errors.As(err, &de) {
			writeJSON(w, http.StatusBadRequest, errorJSON{err.Error()})
			return
		}
		out := refreshJSON{}
		if e != nil && e.Policy != nil {
			p := toJSON(e)
			out.Policy = &p
		}
		if err != nil {
			out.Error = err.Error()
		}
		writeJSON(w, http.StatusOK, out)
	}))
	return mux
}

// loopbackOnly refuses requests from other than loopback addresses.
func loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !isLoopbackHost(host) {
			writeJSON(w, http.StatusForbidden, errorJSON{"admin endpoints answer loopback clients only"})
			return
		}
		h(w, r)
	}
}

// policyJSON is a cached policy as the admin endpoints show it.
type policyJSON struct {
	Domain      string    `json:"domain"`
	ID          string    `json:"id"`
	Mode        string    `json:"mode"`
	MX          []string  `json:"mx"`
	MaxAge      uint32    `json:"max_age"`
	Source      string    `json:"source"`
	FetchedAt   time.Time `json:"fetched_at"`
	Expires     time.Time `json:"expires"`
	CheckedAt   time.Time `json:"checked_at"`
	LastFailure string    `json:"last_failure,omitempty"`
}

type refreshJSON struct {
	Policy *policyJSON `json:"policy"`
	Error  string      `json:"error,omitempty"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func toJSON(e *resolver.Entry) policyJSON {
	p := policyJSON{Domain: e.Domain, ID: e.ID, Source: e.Source.String(),
		FetchedAt: e.FetchedAt.UTC(), Expires: e.Expires.UTC(), CheckedAt: e.CheckedAt.UTC()}
	if e.Policy != nil {
		p.Mode, p.MX, p.MaxAge = e.Policy.Mode.String(), e.Policy.MX, e.Policy.MaxAge
	}
	if p.MX == nil {
		p.MX = []string{}
	}
	if e.LastFailure != nil {
		p.LastFailure = e.LastFailure.At.UTC().Format(time.RFC3339) + " " + e.LastFailure.Err
	}
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
