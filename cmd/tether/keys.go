package main

import (
	"context"
	"fmt"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"tether/sync/directory"
	"tether/sync/keys"
	"tether/worker/redisstash"
)

func newKeysCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Count and reseal the values encrypted with TETHER_ENCRYPTION_KEYS",
		Long: `Retiring a key: put the new key first in TETHER_ENCRYPTION_KEYS (it seals from then on),
keep the old one after it (it still opens), restart, run "tether keys reseal", and drop the
old key once "tether keys status" shows 0 values for it (the database's and the pending
token sets parked in the Redis stash: both verbs need TETHER_REDIS_URL).
Over HTTP: GET /v1/keys and POST /v1/keys/reseal (admin credentials).`,
	}
	var batch int
	reseal := &cobra.Command{
		Use:   "reseal",
		Short: "Seal every value not under the primary (first) key again with it",
		Long: `Walks the sealed values in batches and reseals those under any key but the primary one,
printing progress, then the pending token sets parked in the Redis stash (SCAN). Safe while workers run (a row a refresh rewrites meanwhile is skipped:
it is under the primary key already), and safe to interrupt: running it again resumes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, closeFn, err := keysService(cmd, e, "keys reseal")
			if err != nil {
				return err
			}
			defer closeFn()
			p, err := svc.Reseal(cmd.Context(), batch, func(p keys.Progress) {
				fmt.Fprintf(e.stdout, "read %s, resealed %d, skipped %d (changed meanwhile); at %s\n", directory.Plural(p.Rows, "row"), p.Resealed, p.Skipped, p.LastID)
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "done: %s read, %d resealed and %s in the Redis stash resealed under %s; check with: tether keys status\n",
				directory.Plural(p.Rows, "row"), p.Resealed, directory.Plural(p.Stashed, "parked token set"), svc.Primary())
			return err
		},
	}
	reseal.Flags().IntVar(&batch, "batch", keys.DefaultBatch, "rows read and resealed per batch")
	status := &cobra.Command{
		Use:   "status",
		Short: "Count the sealed values per key id",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, closeFn, err := keysService(cmd, e, "keys status")
			if err != nil {
				return err
			}
			defer closeFn()
			counts, err := svc.Status(cmd.Context(), 0)
			if err != nil {
				return err
			}
			t := newTable(e.stdout, "KEY ID", "VALUES", "IN STASH", "NOTE")
			for _, c := range counts {
				note := ""
				switch {
				case c.Primary:
					note = "primary (seals)"
				case !c.InRing:
					note = "NOT in TETHER_ENCRYPTION_KEYS: these values cannot be opened"
				case c.Values == 0:
					note = "unused: can be removed from TETHER_ENCRYPTION_KEYS"
				default:
					note = "run: tether keys reseal"
				}
				t.AppendRow(table.Row{c.KeyID, c.Values, c.Stashed, note})
			}
			t.Render()
			return nil
		},
	}
	cmd.AddCommand(status, reseal)
	return cmd
}

// keysService opens the store, the token stash in Redis (parked pending token sets are
// sealed values too) and the key ring for the keys verb.
func keysService(cmd *cobra.Command, e env, verb string) (*keys.Service, func(), error) {
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.RequireEncryptionKeys("keys"); err != nil {
		return nil, nil, err
	}
	if err := requireRedisCLI(cfg, verb); err != nil {
		return nil, nil, err
	}
	ring, err := cfg.Keyring()
	if err != nil {
		return nil, nil, err
	}
	opt, err := cfg.RedisConnOpt()
	if err != nil {
		return nil, nil, fmt.Errorf("TETHER_REDIS_URL: %w", err)
	}
	st, err := openConfiguredStore(cmd, e)
	if err != nil {
		return nil, nil, err
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	closeFn := func() { _ = rdb.Close(); _ = st.Close() }
	pctx, cancel := context.WithTimeout(cmd.Context(), pingWait)
	err = pingRedis(pctx, rdb, cfg.RedisURL.Reveal())
	cancel()
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	svc, err := keys.New(st, redisstash.New(rdb, stashPrefix), ring)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return svc, closeFn, nil
}
