package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/secrets"
)

func (a *app) secretsServeCmd(opts *secrets.AWSOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:2773]",
		Short: "Serve secrets to local jobs over the Lambda extension's HTTP protocol",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return errors.New("not implemented yet")
		}),
	}
	return cmd
}
