//go:build unix

package main

import (
	"os"
	"syscall"
)

// forwardedSignals are passed on to the child of "secrets exec".
var forwardedSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// exitStatus is the exit status of a finished child: its exit code, or
// 128+N when signal N killed it, as shells report it.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return exitExecFailed
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
