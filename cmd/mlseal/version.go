package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of mlseal and of Go it was built with",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintln(a.stdout, versionString())
			return err
		}),
	}
}

// versionString is "mlseal VERSION (GOVERSION GOOS/GOARCH)", where VERSION
// is the module version from the build information, or "devel".
func versionString() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return fmt.Sprintf("mlseal %s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
