//go:build !linux

package main

// floorServeEpoll falls back to the goroutine floor where there is no epoll.
func floorServeEpoll(addr string) int { return floorServe(addr) }
