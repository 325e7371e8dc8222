// Package connect is tether's one connect flow (ARCHITECTURE.md, "One connect flow"): a
// signed, expiring, single-use link bound to an org (team Salesforce) or a membership (a
// personal kind) → a page whose button starts the provider's authorization with a
// server-side state bound to a cookie and PKCE S256 → one callback per provider →
// identity checked → tokens sealed in one write → next refresh scheduled.
//
// Links are made by Links.Issue, the one producer the CLI, the HTTP API, the demo and Join
// share; the browser side is Flow.
package connect

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

// Default lifetimes of links.
const (
	DefaultTeamTTL     = 30 * time.Minute
	DefaultPersonalTTL = 7 * 24 * time.Hour
	// MaxTeamTTL bounds a team link: it connects the account every import and audit of
	// the org runs as, so a forwarded or leaked one must lapse soon; a day still covers
	// the link an alert email carries (EmailedTeamLinkTTL).
	MaxTeamTTL = 24 * time.Hour
	// MaxPersonalTTL bounds a member's link: long enough for a rep away for weeks, short
	// enough that a link in an old email does not connect an account months later.
	MaxPersonalTTL = 30 * 24 * time.Hour
	// MinSecretLen is the shortest link secret accepted (bytes).
	MinSecretLen = 32
)

// Unknown owners of a link. HTTP 404.
var (
	ErrUnknownOrg    = errors.New("no such org")
	ErrUnknownMember = errors.New("no such member in this org")
)

// ErrAlreadyConnected wraps a refusal of a Microsoft link whose kind the member's working
// Microsoft grant already serves: a new consent would only replace a grant that works.
// HTTP 409.
var ErrAlreadyConnected = errors.New("already connected")

// ErrBadRequest wraps what a caller asked for that cannot be linked (an unknown kind, a
// personal kind for the org, a deactivated member). HTTP 422.
var ErrBadRequest = errors.New("cannot make this connect link")

// Link is what a connect link is bound to. Kind is salesforce_team (org-level, empty
// MembershipID) or a personal kind.
type Link struct {
	ID           string
	OrgID        string
	MembershipID string
	Kind         connections.Kind
	ExpiresAt    time.Time
	// Expected is the provider account the link must be connected with, when tether knows
	// it (a Salesforce user id from a Salesforce-sourced invite). Empty: any account.
	Expected string
	// InviteID and InviteHash bind a Join's Salesforce connect to a pending invite (and the
	// token hash of the link that started it, so a resend voids it): the invite is
	// accepted, and the membership made, only once the account checked out. MembershipID is
	// empty until then.
	InviteID, InviteHash string
}

// Issued is a fresh link.
type Issued struct {
	Link
	URL string
}

// LinkStore is what issuing a link reads.
type LinkStore interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	GetUserByEmail(ctx context.Context, email string) (directory.User, error)
	GetMembershipByUser(ctx context.Context, orgID, userID string) (directory.Membership, error)
	ListConnections(ctx context.Context, orgID, membershipID string) ([]connections.Connection, error)
}

// LinksParams configure Links. Store and Secret are required.
type LinksParams struct {
	Store LinkStore
	// Secret signs links (TETHER_LINK_SECRET); at least MinSecretLen bytes.
	Secret []byte
	// BaseURL is where people reach tether serve (TETHER_PUBLIC_URL).
	BaseURL string
	// TeamTTL and PersonalTTL are link lifetimes; zero means the defaults. Past
	// MaxTeamTTL or MaxPersonalTTL, NewLinks refuses them.
	TeamTTL, PersonalTTL time.Duration
	Now                  func() time.Time
	Rand                 io.Reader
}

// Links issues and verifies connect links. Safe for concurrent use.
type Links struct{ p LinksParams }

// NewLinks checks p and returns Links.
func NewLinks(p LinksParams) (*Links, error) {
	if p.Store == nil {
		return nil, errors.New("connect links: a store is required")
	}
	if len(p.Secret) < MinSecretLen {
		return nil, fmt.Errorf("connect links: TETHER_LINK_SECRET is %d bytes; at least %d are needed (generate one with: openssl rand -base64 48)", len(p.Secret), MinSecretLen)
	}
	p.BaseURL = strings.TrimRight(cmp.Or(p.BaseURL, "http://localhost:8080"), "/")
	p.TeamTTL = cmp.Or(p.TeamTTL, DefaultTeamTTL)
	p.PersonalTTL = cmp.Or(p.PersonalTTL, DefaultPersonalTTL)
	if p.TeamTTL > MaxTeamTTL {
		return nil, fmt.Errorf("connect links: TETHER_TEAM_LINK_TTL %s is longer than a team link may live (at most %s): set it to %s or less", p.TeamTTL, maxText(MaxTeamTTL), maxText(MaxTeamTTL))
	}
	if p.PersonalTTL > MaxPersonalTTL {
		return nil, fmt.Errorf("connect links: TETHER_CONNECT_LINK_TTL %s is longer than a member's link may live (at most %s): set it to %s or less", p.PersonalTTL, maxText(MaxPersonalTTL), maxText(MaxPersonalTTL))
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Rand == nil {
		p.Rand = rand.Reader
	}
	return &Links{p: p}, nil
}

// IssueRequest names what to link. MembershipID is empty for the team link; it may be the
// member's email instead of the membership id.
type IssueRequest struct {
	OrgID        string
	MembershipID string
	Kind         connections.Kind
	// TTL overrides the kind's default lifetime when positive; zero means the default,
	// and a negative one, or one past the kind's maximum (MaxTeamTTL, MaxPersonalTTL), is
	// ErrBadRequest.
	TTL time.Duration
	// Expected: see Link.Expected.
	Expected string
	// InviteID and InviteHash: see Link (Join's connect; Kind salesforce, no MembershipID).
	InviteID, InviteHash string
	// ID and At make the link reproducible: the same request with the same ID and At
	// issues the same URL (a retried message carries the links of its first attempt).
	// ID must be unique to what it links (it is the single-use key; it need not be
	// secret, the signature is what cannot be forged); empty means a random one. Zero At
	// means now.
	ID string
	At time.Time
}

// Issue makes a link. Errors: the store's not-found for an unknown org or membership,
// ErrBadRequest (wrapped, with the reason) for a kind that does not fit the owner, or
// ErrAlreadyConnected (wrapped, naming the connection) for a Microsoft kind the member's
// working Microsoft grant already serves.
func (l *Links) Issue(ctx context.Context, r IssueRequest) (Issued, error) {
	if !r.Kind.Valid() {
		return Issued{}, fmt.Errorf("%w: unknown kind %q (want salesforce, google_calendar, microsoft_calendar, zoom or teams)", ErrBadRequest, r.Kind)
	}
	if r.TTL < 0 {
		// Used as is it would be the default, silently: say so instead.
		return Issued{}, fmt.Errorf("%w: ttl %s is negative: give how long the link works, such as 1h, or leave it out for the default", ErrBadRequest, r.TTL)
	}
	maxTTL, whose := MaxPersonalTTL, "a member's link"
	if r.Kind.OrgLevel() {
		maxTTL, whose = MaxTeamTTL, "a team link"
	}
	if r.TTL > maxTTL {
		return Issued{}, fmt.Errorf("%w: ttl %s is longer than %s may live (at most %s): give a ttl of %s or less, and make a new link when it lapses",
			ErrBadRequest, r.TTL, whose, maxText(maxTTL), maxText(maxTTL))
	}
	if r.InviteID != "" && (r.Kind != connections.KindSalesforce || r.MembershipID != "" || r.InviteHash == "") {
		return Issued{}, fmt.Errorf("%w: an invite's link connects its Salesforce user only", ErrBadRequest)
	}
	if r.Kind.OrgLevel() != (r.MembershipID == "" && r.InviteID == "") {
		if r.Kind.OrgLevel() {
			return Issued{}, fmt.Errorf("%w: %s is the org's own connection; use `tether org connect-salesforce %s`", ErrBadRequest, r.Kind, r.OrgID)
		}
		return Issued{}, fmt.Errorf("%w: %s belongs to a member; use `tether members connect-link %s MEMBER %s`", ErrBadRequest, r.Kind, r.OrgID, r.Kind)
	}
	if _, err := l.p.Store.GetOrg(ctx, r.OrgID); errors.Is(err, directory.ErrNotFound) {
		return Issued{}, fmt.Errorf("%w: %s (list orgs with `tether org list`)", ErrUnknownOrg, r.OrgID)
	} else if err != nil {
		return Issued{}, fmt.Errorf("connect link for org %s: %w", r.OrgID, err)
	}
	if r.MembershipID != "" {
		m, err := l.member(ctx, r.OrgID, r.MembershipID)
		if errors.Is(err, directory.ErrNotFound) {
			return Issued{}, fmt.Errorf("%w: org %s has no member %s (give a membership id or the member's email; tether members list %s lists them); "+
				"someone invited who has not joined yet is no member: this link works once they joined with their invitation's Join link "+
				"(which, for an invite imported from Salesforce, also connects their Salesforce)",
				ErrUnknownMember, r.OrgID, r.MembershipID, r.OrgID)
		}
		if err != nil {
			return Issued{}, fmt.Errorf("connect link for member %s of org %s: %w", r.MembershipID, r.OrgID, err)
		}
		if m.Status == directory.MembershipDeactivated {
			// Their grants were revoked with them; a link cannot bring them back, a new
			// invitation does (its Join reactivates the membership).
			return Issued{}, fmt.Errorf("%w: member %s of org %s is deactivated: to bring them back, invite them again "+
				"(tether invite emails --org %s --role ROLE EMAIL, or POST /v1/orgs/%s/imports {\"emails\":\"EMAIL\",\"role\":\"ROLE\"}); "+
				"once their Join reactivates the membership, a connect link for them works",
				ErrBadRequest, m.ID, r.OrgID, r.OrgID, r.OrgID)
		}
		r.MembershipID = m.ID
		if r.Kind.Microsoft() {
			conns, err := l.p.Store.ListConnections(ctx, r.OrgID, m.ID)
			if err != nil {
				return Issued{}, fmt.Errorf("connect link for member %s of org %s: %w", m.ID, r.OrgID, err)
			}
			if c, ok := connections.MicrosoftServing(conns, r.Kind); ok {
				return Issued{}, fmt.Errorf("%w: member %s of org %s already has %s through their %s connection %s (%s), "+
					"one Microsoft grant serves both the Outlook calendar and Teams; no link is needed (tether connections list %s --member %s shows it)",
					ErrAlreadyConnected, m.ID, r.OrgID, r.Kind, c.Kind, c.ID, c.State, r.OrgID, m.ID)
			}
		}
	}
	ttl := l.p.PersonalTTL
	if r.Kind.OrgLevel() {
		ttl = l.p.TeamTTL
	}
	if r.TTL > 0 {
		ttl = r.TTL
	}
	if r.ID == "" {
		var id [12]byte
		if _, err := io.ReadFull(l.p.Rand, id[:]); err != nil {
			return Issued{}, fmt.Errorf("connect link: %w", err)
		}
		r.ID = base64.RawURLEncoding.EncodeToString(id[:])
	}
	if r.At.IsZero() {
		r.At = l.p.Now()
	}
	link := Link{ID: r.ID, OrgID: r.OrgID, MembershipID: r.MembershipID,
		Kind: r.Kind, ExpiresAt: r.At.Add(ttl).UTC().Truncate(time.Second), Expected: r.Expected,
		InviteID: r.InviteID, InviteHash: r.InviteHash}
	return Issued{Link: link, URL: l.p.BaseURL + "/connect/" + l.sign(link)}, nil
}

// maxText writes a maximum as a person types it for --ttl: "24h", "720h (30 days)".
func maxText(d time.Duration) string {
	h := int(d / time.Hour)
	if h%24 == 0 && h > 24 {
		return fmt.Sprintf("%dh (%d days)", h, h/24)
	}
	return fmt.Sprintf("%dh", h)
}

// member finds a membership by id or by its user's email.
func (l *Links) member(ctx context.Context, orgID, ref string) (directory.Membership, error) {
	if !strings.Contains(ref, "@") {
		return l.p.Store.GetMembership(ctx, orgID, ref)
	}
	u, err := l.p.Store.GetUserByEmail(ctx, strings.ToLower(strings.TrimSpace(ref)))
	if err != nil {
		return directory.Membership{}, err
	}
	return l.p.Store.GetMembershipByUser(ctx, orgID, u.ID)
}

// payload is a link's signed content; short keys keep the URL short.
type payload struct {
	V  int    `json:"v"`
	ID string `json:"i"`
	O  string `json:"o"`
	M  string `json:"m,omitempty"`
	K  string `json:"k"`
	E  int64  `json:"e"`
	X  string `json:"x,omitempty"`
	IV string `json:"iv,omitempty"`
	IH string `json:"ih,omitempty"`
}

func (l *Links) sign(k Link) string {
	b, _ := json.Marshal(payload{V: 1, ID: k.ID, O: k.OrgID, M: k.MembershipID, K: string(k.Kind), E: k.ExpiresAt.Unix(), X: k.Expected,
		IV: k.InviteID, IH: k.InviteHash})
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + base64.RawURLEncoding.EncodeToString(l.mac(body))
}

func (l *Links) mac(body string) []byte {
	h := hmac.New(sha256.New, l.p.Secret)
	h.Write([]byte("tether-connect-link\x00" + body))
	return h.Sum(nil)
}

// Verify returns the link a token carries. ErrLinkInvalid: not signed by us (tampered,
// truncated); ErrLinkExpired: past its expiry. Whether it was used is the Flow's to check.
func (l *Links) Verify(token string) (Link, error) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Link{}, ErrLinkInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, l.mac(body)) {
		return Link{}, ErrLinkInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Link{}, ErrLinkInvalid
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil || p.V != 1 || p.ID == "" || p.O == "" {
		return Link{}, ErrLinkInvalid
	}
	k := Link{ID: p.ID, OrgID: p.O, MembershipID: p.M, Kind: connections.Kind(p.K), ExpiresAt: time.Unix(p.E, 0).UTC(), Expected: p.X,
		InviteID: p.IV, InviteHash: p.IH}
	if !k.Kind.Valid() || k.Kind.OrgLevel() != (k.MembershipID == "" && k.InviteID == "") {
		return Link{}, ErrLinkInvalid
	}
	if !l.p.Now().Before(k.ExpiresAt) {
		return k, ErrLinkExpired
	}
	return k, nil
}

// EmailedTeamLinkTTL is the lifetime of a team link sent in an alert email: it must outlast
// the time mail takes to be read, unlike a link printed for an admin at the keyboard.
const EmailedTeamLinkTTL = 24 * time.Hour

// TeamLink issues a team-level Salesforce link for an alert email (permissions.TeamLinks).
func (l *Links) TeamLink(ctx context.Context, orgID string) (string, time.Time, error) {
	is, err := l.Issue(ctx, IssueRequest{OrgID: orgID, Kind: connections.KindSalesforceTeam, TTL: EmailedTeamLinkTTL})
	if err != nil {
		return "", time.Time{}, err
	}
	return is.URL, is.ExpiresAt, nil
}
