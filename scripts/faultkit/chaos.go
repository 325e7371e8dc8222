package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"tether/connectors/sandbox"
)

// Fates records what chaos did to which connection, for check.
type Fates struct {
	Revoked  []string `json:"revoked"`  // connection ids whose grant was revoked at the provider
	Disabled []string `json:"disabled"` // connection ids whose account an admin disabled
	// Started is when the faults began (fault.sh writes it when there are none).
	Started time.Time `json:"started"`
	// BrokenAt is when chaos broke them; Baseline is each one's grant request counter
	// just before, so check counts what the break cost.
	BrokenAt time.Time        `json:"broken_at,omitempty"`
	Baseline map[string]int64 `json:"baseline,omitempty"`
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
	order := spread(m.Connections)
	f := Fates{Started: time.Now().UTC(), Baseline: map[string]int64{}}
	var fps []sandbox.Fingerprint
	if err := getJSON(*sb+"/admin/fingerprints", &fps); err != nil {
		return err
	}
	requests := make(map[string]int64, len(fps))
	for _, fp := range fps {
		requests[fp.ID] = fp.Requests
	}
	for _, i := range order[:*revoke+*disable] {
		f.Baseline[m.Connections[i].ConnID] = requests[m.Connections[i].GrantID]
	}
	f.BrokenAt = time.Now().UTC()
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

// spread orders the connections at random, alternating providers, so the grants revoked
// and the accounts disabled fall on every provider alike.
func spread(cs []Seeded) []int {
	by := map[sandbox.Provider][]int{}
	var provs []sandbox.Provider
	for _, i := range rand.Perm(len(cs)) {
		p := cs[i].Provider
		if len(by[p]) == 0 {
			provs = append(provs, p)
		}
		by[p] = append(by[p], i)
	}
	out := make([]int, 0, len(cs))
	for len(out) < len(cs) {
		for _, p := range provs {
			if len(by[p]) > 0 {
				out = append(out, by[p][0])
				by[p] = by[p][1:]
			}
		}
	}
	return out
}

// runRace has an operator refresh --connections connections (of providers that rotate the
// refresh token, none revoked or disabled) --parallel times at once over tether serve's
// API, racing each other and the workers: only the refresh lock keeps them from presenting
// one refresh token twice.
func runRace(args []string) error {
	fs := flag.NewFlagSet("race", flag.ExitOnError)
	api := fs.String("api", "", "tether serve base URL")
	manifest := fs.String("manifest", "", "seed's manifest")
	fatesPath := fs.String("fates", "", "chaos's fates file (those connections are left alone)")
	n := fs.Int("connections", 10, "connections to race on")
	parallel := fs.Int("parallel", 5, "refreshes of one connection at once")
	_ = fs.Parse(args)
	token := os.Getenv("TETHER_API_TOKEN")
	if *api == "" || *manifest == "" || token == "" {
		return errors.New("--api, --manifest and TETHER_API_TOKEN are required")
	}
	var m Manifest
	if err := readJSON(*manifest, &m); err != nil {
		return err
	}
	var f Fates
	if *fatesPath != "" {
		_ = readJSON(*fatesPath, &f)
	}
	skip := set(append(f.Revoked, f.Disabled...))
	var picked []Seeded
	for _, i := range rand.Perm(len(m.Connections)) {
		c := m.Connections[i]
		if !skip[c.ConnID] && c.Provider != "google" && len(picked) < *n {
			picked = append(picked, c)
		}
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for _, c := range picked {
		for range *parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, *api+"/v1/orgs/"+c.OrgID+"/connections/"+c.ConnID+"/refresh", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				st := 0
				if res, err := httpc.Do(req); err == nil {
					st = res.StatusCode
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "race: %d connections refreshed %d at once by the operator API; statuses %v\n", len(picked), *parallel, statuses)
	return nil
}
