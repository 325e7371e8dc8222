package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"tether/connectors/sandbox"
)

// newSandboxCmd is `tether sandbox`: the provider emulators as a process, for
// docker-compose, manual trials and benchmarks that want the providers out of process.
func newSandboxCmd(e env) *cobra.Command {
	var (
		o            sandbox.ServeOptions
		autoApprove  bool
		issuedTokens string
	)
	cmd := &cobra.Command{
		Use:   "sandbox [--addr HOST:PORT] [--scenario FILE] [--auto-approve] [--base-url URL]",
		Short: "Serve emulators of Salesforce, Google, Microsoft and Zoom on one listener",
		Long: `Serves the provider sandbox (package connectors/sandbox): OAuth and the API calls tether
makes, for Salesforce (/salesforce), Google (/google), Microsoft (/microsoft) and Zoom
(/zoom), with fault injection, call counters and an admin API under /admin/.

Once listening it prints one JSON line with each provider's base URL on standard output,
then logs one line per request on standard error (never the query string, which can carry
tokens). SIGTERM or SIGINT shuts it down gracefully.

--scenario loads apps, users, grants, faults and Salesforce orgs from a JSON file first
(see testdata/sandbox-scenario.json). Point tether at it with the TETHER_*_URL variables,
e.g. TETHER_SALESFORCE_LOGIN_URL=http://127.0.0.1:8090/salesforce, and the sandbox's
default client ids and secrets (listed in the connectors/sandbox package doc).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			o.Stdout = e.stdout
			o.Logger = newLogger(cfg, e.stderr).With().Str("component", "sandbox").Logger()
			o.Sandbox.AutoApprove = autoApprove
			if issuedTokens != "" {
				// Test-only (scripts/fault.sh): every issued token, so its logs can be grepped for them.
				f, err := os.OpenFile(issuedTokens, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					return fmt.Errorf("--issued-tokens: %w", err)
				}
				defer f.Close()
				o.Sandbox.IssuedTokens = f
			}
			err = sandbox.ListenAndServe(cmd.Context(), o)
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("sandbox address %s is in use (another sandbox on this host?); give --addr a free address, e.g. --addr %s", o.Addr, nextPort(o.Addr))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&o.Addr, "addr", "127.0.0.1:8090", "HOST:PORT to listen on (port 0 picks a free one; 0.0.0.0 for every interface)")
	cmd.Flags().StringVar(&o.ScenarioFile, "scenario", "", "JSON scenario file to load before serving")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "approve every authorize request at once for the login_hint user, without a consent page")
	cmd.Flags().StringVar(&o.Sandbox.BaseURL, "base-url", "", "external origin for instance_url and identity URLs (default: the request's Host)")
	cmd.Flags().StringVar(&issuedTokens, "issued-tokens", "", "test-only: append every token the sandbox issues to this file (scripts/fault.sh greps logs for them)")
	_ = cmd.Flags().MarkHidden("issued-tokens")
	return cmd
}
