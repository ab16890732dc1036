package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// floorServeEpoll is a floor of another kind: one OS thread runs an epoll
// loop over raw file descriptors (level-triggered), reading each request
// and writing the fixed reply, with no goroutine per connection and no Go
// scheduler on the path. It answers what Go's network I/O costs beyond the
// kernel's.
func floorServeEpoll(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ep, err := syscall.EpollCreate1(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var mu sync.Mutex
	keep := map[int]*os.File{}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f, err := nc.(*net.TCPConn).File() // a blocking dup of the socket
			nc.Close()
			if err != nil {
				continue
			}
			fd := int(f.Fd())
			syscall.SetNonblock(fd, true)
			mu.Lock()
			keep[fd] = f
			mu.Unlock()
			syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
		}
	}()
	runtime.LockOSThread()
	reply := []byte(netstring("OK secure match=mx1.hit.test:.mx.hit.test servername=hostname"))
	events := make([]syscall.EpollEvent, 64)
	buf := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 1
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			m, err := syscall.Read(fd, buf)
			if m <= 0 || err != nil {
				if err == syscall.EAGAIN {
					continue
				}
				syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, fd, nil)
				mu.Lock()
				keep[fd].Close()
				delete(keep, fd)
				mu.Unlock()
				continue
			}
			// One reply per comma: the load test's requests are whole.
			out = out[:0]
			for _, c := range buf[:m] {
				if c == ',' {
					out = append(out, reply...)
				}
			}
			syscall.Write(fd, out)
		}
	}
}
