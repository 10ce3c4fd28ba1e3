//go:build !unix

package main

import "os"

var forwardedSignals = []os.Signal{os.Interrupt}

func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return exitExecFailed
	}
	return ps.ExitCode()
}
