package main

import (
	"github.com/redis/go-redis/v9"

	"tether/connectors/salesforce"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/worker"
)

// importParts are the invite import's wired parts: the service (Create for producers,
// Run for the worker) and the org directories it reads Salesforce through.
type importParts struct {
	svc  *invites.Service
	dirs invites.Directories // nil without the key ring: producers that only create
	st   store.Invites
}

// buildImportService builds the invite import; app.importParts calls it once per
// process. Sends are queued through client, a page's sends in one pipeline over rdb
// (the Redis client is Asynq's). With the key ring (d.keyring) it also reads
// Salesforce through each org's team connection (teamTokens), recording the API usage it
// sees in the store.
func buildImportService(d deps, client worker.Enqueuer, rdb redis.UniversalClient) (importParts, error) {
	st := store.Invites{Store: d.store}
	var dirs invites.Directories
	if d.keyring != nil {
		tokens, err := d.app.teamTokens()
		if err != nil {
			return importParts{}, err
		}
		sd, err := salesforce.NewInviteDirectories(salesforce.InviteDirectoriesParams{
			Auth:  salesforce.TeamAuthFrom(tokens),
			Usage: d.store,
		})
		if err != nil {
			return importParts{}, err
		}
		dirs = sd
	}
	svc, err := invites.New(invites.Config{
		Store:       st,
		Directories: dirs,
		Sender:      worker.InviteSendQueue{Client: client, Redis: rdb},
		Tasks:       worker.ImportTasks{Client: client},
		InviteTTL:   d.cfg.InviteTTL,
		PauseFor:    d.cfg.ImportPause,
	})
	if err != nil {
		return importParts{}, err
	}
	return importParts{svc: svc, dirs: dirs, st: st}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
