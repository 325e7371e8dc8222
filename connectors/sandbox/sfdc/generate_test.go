package sfdc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"001D000000IqhSL", "001D000000IqhSLIAZ", true}, // Salesforce's documented example
		{"001D000000IqhSLIAZ", "001D000000IqhSLIAZ", true},
		{"001d000000iqhsliaz", "001D000000IqhSLIAZ", true}, // 18-char ids are case-insensitive
		{"001D000000IqhSLAAA", "001d000000iqhslAAA", true}, // the suffix decides the case
		{"001D000000IqhS", "", false},
		{"001D000000IqhS!", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeID(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("NormalizeID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	id := MakeID(PrefixUser, 12345)
	if n, ok := NormalizeID(id[:15]); !ok || n != id || !strings.HasPrefix(id, "005") {
		t.Errorf("MakeID = %q, normalized %q", id, n)
	}
}

func TestGenerateUsers(t *testing.T) {
	a := GenerateUsers(7, 20000, "acme")
	if !reflect.DeepEqual(a, GenerateUsers(7, 20000, "acme")) {
		t.Fatal("same seed gave different users")
	}
	if reflect.DeepEqual(a[:100], GenerateUsers(8, 100, "acme")) {
		t.Fatal("different seeds gave the same users")
	}
	var inactive, nonStd, empty, malformed, caseDup int
	usernames := map[string]bool{}
	byFold := map[string]string{}
	profiles := StandardProfiles()
	ptype := map[string]string{}
	for _, p := range profiles {
		ptype[p.Name] = p.UserType
	}
	for _, u := range a {
		if usernames[strings.ToLower(u.Username)] {
			t.Fatalf("duplicate username %s", u.Username)
		}
		usernames[strings.ToLower(u.Username)] = true
		if !u.Active() {
			inactive++
		}
		if ptype[u.Profile] != "" {
			nonStd++
		}
		switch {
		case u.Email == "":
			empty++
		case strings.Count(u.Email, "@") != 1 || strings.HasPrefix(u.Email, "@") || strings.HasSuffix(u.Email, "@") || strings.Contains(u.Email, " "):
			malformed++
		}
		if u.Email != "" {
			k := strings.ToLower(u.Email)
			if prev, ok := byFold[k]; ok && prev != u.Email {
				caseDup++
			}
			byFold[k] = u.Email
		}
	}
	n := float64(len(a))
	within := func(name string, got int, lo, hi float64) {
		if f := float64(got) / n; f < lo || f > hi {
			t.Errorf("%s: %.2f%%, want %.1f%%..%.1f%%", name, f*100, lo*100, hi*100)
		}
	}
	within("inactive", inactive, 0.08, 0.12)
	within("non-standard user type", nonStd, 0.04, 0.06)
	within("empty email", empty, 0.007, 0.013)
	within("malformed email", malformed, 0.003, 0.007)
	within("email duplicate differing only by case", caseDup, 0.005, 0.015)
}

func TestScenarioJSON(t *testing.T) {
	const doc = `{"orgs":[{
		"name":"Globex", "dailyApiMax":500,
		"profiles":[{"name":"Standard User","permissions":{"user":["ApiEnabled"],"objects":{"Lead":["Read"]},"fields":{"Lead.*":["Read"]}}},
		            {"name":"Partner","userType":"PowerPartner","userLicense":"Partner Community"}],
		"permissionSets":[{"name":"Integration","permissions":{"user":["ApiEnabled","ViewSetup"],"objects":{"Lead":["Edit"]},"fields":{"Lead.Email":["Edit"]}}}],
		"users":[{"username":"int@globex.example.com","lastName":"Integration","email":"int@globex.example.com","profile":"Standard User","permissionSets":["Integration"],"marketingUser":true},
		         {"username":"p@globex.example.com","lastName":"Partner","profile":"Partner","isActive":false}]
	}]}`
	var sc Scenario
	if err := json.Unmarshal([]byte(doc), &sc); err != nil {
		t.Fatal(err)
	}
	s := New(Params{Auth: &tokenAuth{m: map[string]string{}}})
	if err := s.LoadScenario(sc); err != nil {
		t.Fatal(err)
	}
	orgID := s.OrgIDs()[0]
	if _, max := s.Usage(orgID); max != 500 {
		t.Errorf("daily max = %d", max)
	}
	u, ok := s.UserByUsername("INT@globex.example.com")
	if !ok || u.OrgID != orgID || !u.IsActive || u.UserType != "Standard" || !strings.HasPrefix(u.ID, "005") || len(u.ID) != 18 {
		t.Fatalf("user = %+v", u)
	}
	p, _ := s.UserByUsername("p@globex.example.com")
	if p.IsActive || p.UserType != "PowerPartner" {
		t.Errorf("partner = %+v", p)
	}
	for perm, want := range map[Permission]bool{PermViewSetup: true, "Lead:Edit": true, "Lead:Create": false, "Lead.Email:Edit": true, "Lead.Phone:Edit": false, "Lead.Phone:Read": true, PermMarketingUser: true} {
		if got, err := s.HasPermission(u.ID, perm); err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", perm, got, err, want)
		}
	}

	// A bad scenario is refused and leaves the loaded one in place.
	bad := []Scenario{
		{Orgs: []OrgSpec{{Name: "x", ID: "00D5g000004SAMPLE"}}},
		{Orgs: []OrgSpec{{Name: "x", Users: []UserSpec{{Username: "a@x", LastName: "A", Profile: "Nope"}}}}},
		{Orgs: []OrgSpec{{Name: "x", PermissionSets: []PermissionSetSpec{{Name: "p", Permissions: PermissionsSpec{User: []string{"Fly"}}}}}}},
		{Orgs: []OrgSpec{{Name: "x", Users: []UserSpec{{Username: "a@x", LastName: "A", Profile: ProfileStandardUser}, {Username: "A@X", LastName: "B", Profile: ProfileStandardUser}}}}},
	}
	for i, b := range bad {
		if err := s.LoadScenario(b); err == nil {
			t.Errorf("bad scenario %d accepted", i)
		}
	}
	if _, ok := s.UserByUsername("int@globex.example.com"); !ok || s.OrgIDs()[0] != orgID {
		t.Error("failed load discarded the previous scenario")
	}

	// "generate" in JSON adds users to an org that has the standard profiles.
	var gen Scenario
	if err := json.Unmarshal([]byte(`{"orgs":[{"name":"Gen","generate":{"seed":9,"users":250}}]}`), &gen); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadScenario(gen); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Users(s.OrgIDs()[0])); n != 250 {
		t.Errorf("generated %d users, want 250", n)
	}
}
