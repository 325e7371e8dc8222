package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

// Fates records what chaos did to which connection, for check.
type Fates struct {
	Revoked  []string `json:"revoked"`  // connection ids whose grant was revoked at the provider
	Disabled []string `json:"disabled"` // connection ids whose account an admin disabled
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// runChaos revokes --revoke grants and disables --disable accounts, each on a different
// connection, spread over the providers, and records them in --fates.
func runChaos(args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ExitOnError)
	sb := fs.String("sandbox", "", "sandbox base URL")
	manifest := fs.String("manifest", "", "seed's manifest")
	fatesPath := fs.String("fates", "", "write what was done here")
	revoke := fs.Int("revoke", 10, "grants to revoke")
	disable := fs.Int("disable", 10, "accounts to disable")
	_ = fs.Parse(args)
	if *sb == "" || *manifest == "" || *fatesPath == "" {
		return errors.New("--sandbox, --manifest and --fates are required")
	}
	var m Manifest
	if err := readJSON(*manifest, &m); err != nil {
		return err
	}
	if *revoke+*disable > len(m.Connections) {
		return fmt.Errorf("%d revokes and %d disables need that many connections; the manifest has %d", *revoke, *disable, len(m.Connections))
	}
	order := rand.Perm(len(m.Connections))
	var f Fates
	for _, i := range order[:*revoke] {
		c := m.Connections[i]
		if err := postJSON(*sb+"/admin/grants/"+c.GrantID+"/revoke", struct{}{}, nil); err != nil {
			return err
		}
		f.Revoked = append(f.Revoked, c.ConnID)
	}
	for _, i := range order[*revoke : *revoke+*disable] {
		c := m.Connections[i]
		if err := postJSON(*sb+"/admin/users/"+string(c.Provider)+"/"+c.Subject+"/active", map[string]bool{"active": false}, nil); err != nil {
			return err
		}
		f.Disabled = append(f.Disabled, c.ConnID)
	}
	b, _ := json.Marshal(f)
	if err := os.WriteFile(*fatesPath, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "chaos: %d grants revoked, %d accounts disabled\n", len(f.Revoked), len(f.Disabled))
	return nil
}
