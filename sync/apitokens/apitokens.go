// Package apitokens issues and checks API tokens for programs calling tether's /v1 API.
// A token may be limited to a list of orgs and to reading; the store keeps only the
// SHA-256 of its secret, so a token is shown once, when it is created. The one global
// credential (TETHER_API_TOKEN, the admin password) stays for operators.
package apitokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tether/sync/directory"
)

// Prefix starts every token, so a leaked one is recognisable (secret scanners) and never
// confused with the global TETHER_API_TOKEN.
const Prefix = "tt_"

// ErrUnknown: no live token has this secret (never issued, revoked, or malformed).
var ErrUnknown = errors.New("unknown or revoked API token")

// Token is a stored API token (never its secret).
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// OrgIDs limits the token to these orgs; empty means every org.
	OrgIDs []string `json:"org_ids"`
	// ReadOnly limits the token to GET and HEAD.
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// SecretHash is the hex SHA-256 of the secret; not shown.
	SecretHash string `json:"-"`
}

// AllowsOrg reports whether t may act on orgID.
func (t Token) AllowsOrg(orgID string) bool {
	return len(t.OrgIDs) == 0 || slices.Contains(t.OrgIDs, orgID)
}

// Principal is how t appears in requested_by fields and events: "token:<id>".
func (t Token) Principal() string { return "token:" + t.ID }

// Store keeps tokens.
type Store interface {
	CreateAPIToken(ctx context.Context, t Token) error
	// GetAPITokenByHash returns directory.ErrNotFound for no live token with hash.
	GetAPITokenByHash(ctx context.Context, hash string) (Token, error)
	ListAPITokens(ctx context.Context) ([]Token, error)
	// RevokeAPIToken returns directory.ErrNotFound for an unknown or revoked id.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
}

// Service issues, checks and revokes tokens. Safe for concurrent use.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a Service over store.
func New(store Store) (*Service, error) {
	if store == nil {
		return nil, errors.New("apitokens: store is required")
	}
	return &Service{store: store, now: time.Now}, nil
}

// CreateRequest is a token to issue.
type CreateRequest struct {
	Name     string   `json:"name"`
	OrgIDs   []string `json:"org_ids"`
	ReadOnly bool     `json:"read_only"`
}

// ErrInvalid wraps a request that cannot be issued; its text says why.
var ErrInvalid = errors.New("invalid token request")

// Create issues a token and returns it with its secret, which exists nowhere else
// afterwards. Every org must exist.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Token, string, error) {
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" {
		return Token{}, "", fmt.Errorf("%w: a name is required (who or what uses the token)", ErrInvalid)
	}
	if err := directory.CheckText("name", req.Name, directory.MaxOrgName); err != nil {
		return Token{}, "", fmt.Errorf("%w: %s", ErrInvalid, err.Error())
	}
	for _, o := range req.OrgIDs {
		if _, err := s.store.GetOrg(ctx, o); errors.Is(err, directory.ErrNotFound) {
			return Token{}, "", fmt.Errorf("%w: org %s does not exist (tether org list shows the ids)", ErrInvalid, o)
		} else if err != nil {
			return Token{}, "", fmt.Errorf("create api token: %w", err)
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	t := Token{ID: hex.EncodeToString(id), Name: req.Name, OrgIDs: slices.Compact(slices.Sorted(slices.Values(req.OrgIDs))),
		ReadOnly: req.ReadOnly, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b)
	t.SecretHash = hash(secret)
	if t.OrgIDs == nil {
		t.OrgIDs = []string{}
	}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return Token{}, "", fmt.Errorf("create api token: %w", err)
	}
	return t, secret, nil
}

// Authenticate returns the live token whose secret is secret, or ErrUnknown.
func (s *Service) Authenticate(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 100 {
		return Token{}, ErrUnknown
	}
	t, err := s.store.GetAPITokenByHash(ctx, hash(secret))
	if errors.Is(err, directory.ErrNotFound) {
		return Token{}, ErrUnknown
	}
	return t, err
}

// List returns every token, revoked ones too, without secrets.
func (s *Service) List(ctx context.Context) ([]Token, error) { return s.store.ListAPITokens(ctx) }

// Revoke ends token id at once. Returns an error wrapping directory.ErrNotFound for an
// unknown or already revoked id.
func (s *Service) Revoke(ctx context.Context, id string) error {
	return s.store.RevokeAPIToken(ctx, id, s.now())
}

func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
