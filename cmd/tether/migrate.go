package main

import (
	"fmt"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/store"
)

func newMigrateCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or list database migrations (PostgreSQL or SQLite)",
		Long: `Manages the schema of the store named by TETHER_DATABASE_URL (default: a SQLite file,
tether.db). Migrations are embedded in the binary. Running "migrate up" from several
processes at once is safe.`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "up",
			Short: "Apply every pending migration",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				st, err := openConfiguredStore(cmd, e)
				if err != nil {
					return err
				}
				defer st.Close()
				before, err := st.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				if err := st.Migrate(ctx); err != nil {
					return err
				}
				pending := 0
				for _, m := range before {
					if !m.Applied {
						pending++
					}
				}
				_, err = fmt.Fprintf(e.stdout, "%s: applied %d migration(s); %d in total, all applied\n", st.Backend(), pending, len(before))
				return err
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "List migrations and whether each is applied",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx := cmd.Context()
				st, err := openConfiguredStore(cmd, e)
				if err != nil {
					return err
				}
				defer st.Close()
				states, err := st.MigrationStatus(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s store\n", st.Backend())
				t := newTable(e.stdout, "VERSION", "NAME", "APPLIED")
				for _, m := range states {
					applied := "pending"
					if m.Applied {
						applied = m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
					}
					t.AppendRow(table.Row{m.Version, m.Name, applied})
				}
				t.Render()
				return nil
			},
		},
	)
	return cmd
}

// openConfiguredStore opens, without migrating, the store TETHER_DATABASE_URL names.
func openConfiguredStore(cmd *cobra.Command, e env) (*store.Store, error) {
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(cmd.Context(), cfg.DatabaseURL.Reveal())
	if err != nil {
		return nil, storeOpenError(cfg.DatabaseURL.Reveal(), err)
	}
	return st, nil
}
