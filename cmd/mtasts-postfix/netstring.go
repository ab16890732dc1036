package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// MaxRequest is the largest request payload accepted, in bytes. Postfix
// sends "<map> <key>", its key the next-hop domain (at most 253 bytes in
// A-labels, a few times that as UTF-8), so 1000 bytes leave room for any
// real request while bounding what a client can make the server buffer.
const MaxRequest = 1000

// MaxReply is the largest reply payload Postfix accepts (socketmap_table(5):
// 100000 characters, not counting the netstring framing).
const MaxReply = 100000

// Framing errors. After one, the stream cannot be trusted to be aligned on a
// netstring boundary, so the connection is closed without a reply.
var (
	errMalformed = errors.New("malformed netstring")
	errTooLong   = errors.New("netstring longer than the request limit")
)

// readNetstring reads one netstring "<len>:<payload>," of at most max payload
// bytes into buf (which must hold max bytes) and returns the payload. The
// length is decimal without leading zeros (as djb's netstring definition
// asks) and without sign or spaces. A stream that ends cleanly before the
// first byte of a netstring gives io.EOF; one that ends inside a netstring
// gives io.ErrUnexpectedEOF.
func readNetstring(r *bufio.Reader, buf []byte, max int) ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			if digits == 0 {
				return nil, errMalformed
			}
			break
		}
		if c < '0' || c > '9' || digits == 1 && n == 0 {
			return nil, errMalformed // not a digit, or a leading zero
		}
		n = n*10 + int(c-'0')
		digits++
		if n > max {
			return nil, errTooLong
		}
	}
	p := buf[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	c, err := r.ReadByte()
	switch {
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case c != ',':
		return nil, errMalformed
	}
	return p, nil
}

// writeNetstring writes payload as one netstring.
func writeNetstring(w *bufio.Writer, payload []byte) error {
	h := strconv.AppendInt(w.AvailableBuffer(), int64(len(payload)), 10)
	w.Write(append(h, ':'))
	w.Write(payload)
	return w.WriteByte(',') // a bufio.Writer's error sticks: this returns the first
}
