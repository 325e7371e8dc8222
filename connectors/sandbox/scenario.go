package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"tether/connectors/sandbox/sfdc"
)

// Scenario is the sandbox's seed data, loadable from a JSON file:
//
//	{
//	  "apps":   [{"provider":"salesforce","client_id":"…","client_secret":"…","rotate_refresh_tokens":true}],
//	  "users":  [{"provider":"google","id":"1098…","email":"rep@example.com","given_name":"Rep"}],
//	  "grants": [{"provider":"zoom","subject":"rep@example.com","refresh_token":"fixed-rt"}],
//	  "faults": [{"provider":"google","endpoint":"token","kind":"status","status":503,"count":2}],
//	  "salesforce": {"orgs":[…]}
//	}
//
// Every key is optional. Durations are Go strings ("720h") or seconds.
type Scenario struct {
	Apps       []App          `json:"apps,omitempty"`
	Users      []User         `json:"users,omitempty"`
	Grants     []GrantRequest `json:"grants,omitempty"`
	Faults     []Fault        `json:"faults,omitempty"`
	Salesforce *sfdc.Scenario `json:"salesforce,omitempty"`
}

// LoadScenario adds apps, users, grants and faults, and replaces the Salesforce orgs (a
// scenario with a "salesforce" key drops the orgs loaded before, and its orgs' ids start
// again at the first one), in that order (grants may name the users and apps of the same
// scenario). It stops at the first error, which names the offending entry; entries before
// it stay loaded.
func (s *Sandbox) LoadScenario(sc Scenario) error {
	for i, a := range sc.Apps {
		if err := s.AddApp(a); err != nil {
			return fmt.Errorf("scenario apps[%d]: %w", i, err)
		}
	}
	for i, u := range sc.Users {
		if err := s.AddUser(u); err != nil {
			return fmt.Errorf("scenario users[%d]: %w", i, err)
		}
	}
	if sc.Salesforce != nil {
		if err := s.sf.LoadScenario(*sc.Salesforce); err != nil {
			return fmt.Errorf("scenario salesforce: %w", err)
		}
	}
	for i, g := range sc.Grants {
		if _, err := s.NewGrant(g); err != nil {
			return fmt.Errorf("scenario grants[%d]: %w", i, err)
		}
	}
	for i, f := range sc.Faults {
		if _, err := s.faults.Add(f); err != nil {
			return fmt.Errorf("scenario faults[%d]: %w", i, err)
		}
	}
	return nil
}

// ParseScenario decodes a scenario, refusing unknown keys so a typo is an error rather
// than silently ignored data.
func ParseScenario(b []byte) (Scenario, error) {
	var sc Scenario
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("parse scenario: %w", err)
	}
	return sc, nil
}

// LoadScenarioFile reads and loads a JSON scenario file.
func (s *Sandbox) LoadScenarioFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := s.LoadScenario(sc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
