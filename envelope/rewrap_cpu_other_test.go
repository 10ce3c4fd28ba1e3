//go:build !unix

package envelope_test

// cpuSeconds is unknown here: benchmarks report no MB/cpu-s.
func cpuSeconds() float64 { return -1 }
