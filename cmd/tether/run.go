package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"tether/config"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// env is the outside world a command sees; tests pass their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// observe, when set, is shown each process's app as it is created (tests count what
	// it builds).
	observe func(*app)
}

// run is the whole program: main only adds the signal context and the exit code. Cancelling
// ctx is SIGTERM: every long-running verb shuts down gracefully and returns nil.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	// go-redis prints every failed dial to stderr (process-wide), whichever verb made the
	// client; tether reports an outage once per state change instead (worker), or as the
	// command's error (the CLI).
	redis.SetLogger(quietRedis{})
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(args[1:])
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return explainRedis(requiredFlags(cmd, err), redisURLOf(root, getenv))
}

// requiredFlags gives cobra's `required flag(s) "seats" not set` the command and its
// usage, as a missing argument has (polishUsage), and names each flag as it is typed.
func requiredFlags(cmd *cobra.Command, err error) error {
	const prefix = "required flag(s) "
	if err == nil || cmd == nil || !strings.HasPrefix(err.Error(), prefix) {
		return err
	}
	names := strings.TrimSuffix(strings.TrimPrefix(err.Error(), prefix), " not set")
	var flags []string
	for _, n := range strings.Split(names, ", ") {
		flags = append(flags, "--"+strings.Trim(n, `"`))
	}
	return fmt.Errorf("%s: missing %s (usage: %s; %s --help says what each takes)",
		cmd.CommandPath(), strings.Join(flags, " and "), cmd.UseLine(), cmd.CommandPath())
}

// newRoot builds the command tree. A new verb is one more newXxxCmd(e) here, in its own
// file.
func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:   "tether",
		Short: "Keep a sales-engagement product in step with Salesforce and each rep's integrations",
		Long: `tether imports Salesforce users as invites, audits the Salesforce integration user's
permissions, keeps reps' OAuth connections alive and reminds reps to reconnect.

Configuration comes from TETHER_* environment variables (see .env.example); the flags
below override them.`,
		SilenceUsage:  true, // an error is not a usage problem; cobra would print the help
		SilenceErrors: true, // main prints the error once
	}
	config.BindFlags(root.PersistentFlags())
	root.AddCommand(
		newWorkerCmd(e),
		newSchedulerCmd(e),
		newServeCmd(e),
		newAllCmd(e),
		newMigrateCmd(e),
		newDemoCmd(e),
		newSandboxCmd(e),
		newVersionCmd(e),
		newPermissionsCmd(e),
		newUsersCmd(e),
		newKeysCmd(e),
		newTokensCmd(e),
		newEventsCmd(e),
		newReconcileCmd(e),
	)
	addOrgCmds(root, e)
	orgParent(root).AddCommand(newOrgConnectSalesforceCmd(e))
	root.AddCommand(newMembersCmd(e))
	root.AddCommand(newConnectionsCmd(e))
	addInviteResend(root, e)
	addInviteImport(root, e)
	addInviteAdmin(root, e)
	connectionsParent(root).AddCommand(newConnectionsSweepCmd(e))
	polishUsage(root)
	return root
}

// loadConfig reads the configuration for cmd: environment, then cmd's flags.
func loadConfig(cmd *cobra.Command, e env) (config.Config, error) {
	return config.Load(e.getenv, cmd.Flags())
}

func newVersionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print tether's version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			_, err := fmt.Fprintf(e.stdout, "tether %s (revision %s, %s, %s/%s)\n", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}
