package storetest

import (
	"bytes"
	"testing"

	"tether/sync/connections"
	"tether/sync/vault"
)

// AssertTokensSealed fails t unless both token columns of c hold ciphertext bound to
// c's row (invariant 4): each opens with keys and c.ID to a non-empty token that does
// not appear in the column, and neither opens with any of otherIDs (the membership
// id, the org id: the associated data a wrong path would use). Use it on every
// connection a test sees written, whatever path wrote it.
func AssertTokensSealed(t testing.TB, keys *vault.Keyring, c connections.Connection, otherIDs ...string) {
	t.Helper()
	for _, col := range []struct {
		name   string
		sealed []byte
	}{{"access token", c.AccessTokenEnc}, {"refresh token", c.RefreshTokenEnc}} {
		tok, err := keys.OpenToken(col.sealed, c.ID)
		if err != nil || tok.IsZero() {
			t.Fatalf("%s connection %s: the %s does not open with the row id: %v", c.Kind, c.ID, col.name, err)
		}
		if bytes.Contains(col.sealed, []byte(tok.Reveal())) {
			t.Fatalf("%s connection %s: the %s is stored in clear text", c.Kind, c.ID, col.name)
		}
		for _, id := range append(otherIDs, c.OrgID, c.MembershipID) {
			if id == "" || id == c.ID {
				continue
			}
			if _, err := keys.OpenToken(col.sealed, id); err == nil {
				t.Fatalf("%s connection %s: the %s opens with id %s, not only its row's", c.Kind, c.ID, col.name, id)
			}
		}
	}
}
