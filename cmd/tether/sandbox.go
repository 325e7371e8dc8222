package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
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
		printEnv     bool
		issuedTokens string
	)
	cmd := &cobra.Command{
		Use:   "sandbox [--addr HOST:PORT] [--scenario FILE] [--auto-approve] [--base-url URL] [--print-env]",
		Short: "Serve emulators of Salesforce, Google, Microsoft and Zoom on one listener",
		Long: `Serves the provider sandbox (package connectors/sandbox): OAuth and the API calls tether
makes, for Salesforce (/salesforce), Google (/google), Microsoft (/microsoft) and Zoom
(/zoom), with fault injection, call counters and an admin API under /admin/.

Once listening it prints one JSON line with each provider's base URL on standard output,
then logs one line per request on standard error (never the query string, which can carry
tokens). SIGTERM or SIGINT shuts it down gracefully.

--scenario loads apps, users, grants, faults and Salesforce orgs from a JSON file first
(see testdata/sandbox-scenario.json: the Salesforce org "Acme 7" and a Google, Microsoft
and Zoom account).

--print-env prints, instead of serving, the shell exports that point tether at a sandbox
on --addr (or --base-url): every provider's TETHER_*_URL and the sandbox's default client
ids and secrets. In the shell that runs tether all and the CLI verbs:
  eval "$(tether sandbox --print-env)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printEnv {
				base, err := sandboxBase(o.Addr, o.Sandbox.BaseURL)
				if err != nil {
					return err
				}
				return writeExports(e.stdout, base, sandboxEnv(base))
			}
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
			o.Listening = func(base string) {
				if o.Sandbox.BaseURL != "" {
					base = o.Sandbox.BaseURL
				}
				o.Logger.Info().Msgf(`point tether at this sandbox: eval "$(tether sandbox --print-env --base-url %s)"`, base)
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
	cmd.Flags().BoolVar(&printEnv, "print-env", false, "print the shell exports that point tether at this sandbox, then exit without serving")
	cmd.Flags().StringVar(&issuedTokens, "issued-tokens", "", "test-only: append every token the sandbox issues to this file (scripts/fault.sh greps logs for them)")
	_ = cmd.Flags().MarkHidden("issued-tokens")
	return cmd
}

// envVar is one variable of `tether sandbox --print-env`.
type envVar struct{ name, value string }

// sandboxEnv is every provider setting that points tether at a sandbox serving at base
// (http://HOST:PORT): its default apps' credentials and each provider's URLs, with the
// paths the real endpoints have under their hosts.
func sandboxEnv(base string) []envVar {
	return []envVar{
		{"TETHER_SALESFORCE_CLIENT_ID", sandbox.DefaultSalesforceClientID},
		{"TETHER_SALESFORCE_CLIENT_SECRET", sandbox.DefaultSalesforceClientSecret},
		{"TETHER_SALESFORCE_LOGIN_URL", base + "/salesforce"},
		{"TETHER_SALESFORCE_SANDBOX_LOGIN_URL", base + "/salesforce"},
		{"TETHER_GOOGLE_CLIENT_ID", sandbox.DefaultGoogleClientID},
		{"TETHER_GOOGLE_CLIENT_SECRET", sandbox.DefaultGoogleClientSecret},
		{"TETHER_GOOGLE_AUTH_URL", base + "/google/o/oauth2/v2/auth"},
		{"TETHER_GOOGLE_TOKEN_URL", base + "/google/token"},
		{"TETHER_GOOGLE_API_URL", base + "/google"},
		{"TETHER_MICROSOFT_CLIENT_ID", sandbox.DefaultMicrosoftClientID},
		{"TETHER_MICROSOFT_CLIENT_SECRET", sandbox.DefaultMicrosoftClientSecret},
		{"TETHER_MICROSOFT_LOGIN_URL", base + "/microsoft/common"},
		{"TETHER_MICROSOFT_GRAPH_URL", base + "/microsoft"},
		{"TETHER_ZOOM_CLIENT_ID", sandbox.DefaultZoomClientID},
		{"TETHER_ZOOM_CLIENT_SECRET", sandbox.DefaultZoomClientSecret},
		{"TETHER_ZOOM_OAUTH_URL", base + "/zoom"},
		{"TETHER_ZOOM_API_URL", base + "/zoom"},
	}
}

// sandboxBase is the origin tether reaches a sandbox at: --base-url when given, else
// --addr with a wildcard host made dialable. A free port (0) is known only once listening.
func sandboxBase(addr, baseURL string) (string, error) {
	if baseURL != "" {
		return strings.TrimRight(baseURL, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: give HOST:PORT, e.g. --addr 127.0.0.1:8090", addr)
	}
	if port == "0" {
		return "", fmt.Errorf("--print-env needs the sandbox's port, and --addr %s picks one only when listening: give the port, e.g. --addr %s", addr, net.JoinHostPort(host, "8090"))
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// writeExports prints vars as POSIX shell exports, each value single-quoted.
func writeExports(w io.Writer, base string, vars []envVar) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# tether's provider settings for the sandbox at %s\n", base)
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s='%s'\n", v.name, strings.ReplaceAll(v.value, "'", `'\''`))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
