package invites

import (
	"net/mail"
	"strings"

	"tether/sync/directory"
)

// Reasons written in refused rows.
const (
	ReasonOverSeatLimit  = "over_seat_limit"
	ReasonNotFound       = "not_found"
	ReasonAlreadyInvited = "already_invited"
)

// validEmail reports whether e (already normalised) is an address an invitation can be
// sent to: one local part, one @, a dotted domain, nothing a mail header would reinterpret.
// Addresses under .invalid (Salesforce sandboxes rewrite emails that way) are refused.
func validEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	if at <= 0 || at != strings.LastIndexByte(e, '@') || at == len(e)-1 {
		return false
	}
	if strings.ContainsAny(e, " \t\r\n<>()[]\\,;:\"") {
		return false
	}
	dom := e[at+1:]
	if !strings.Contains(dom, ".") || strings.HasPrefix(dom, ".") || strings.HasSuffix(dom, ".") ||
		strings.Contains(dom, "..") || strings.HasSuffix(dom, ".invalid") {
		return false
	}
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e
}

// candidate is a person the page would like to invite, before seats are checked.
type candidate struct {
	row   SalesforceUser
	seq   int    // the row's position in the import
	email string // normalised
	// userID is set when the email belongs to an existing user: the invite then also adds
	// a pending membership (unless the user already has one in the org).
	userID        string
	addMembership bool
	multiAccount  bool // the user belongs to another org
	// lapsedInviteID is the org's lapsed invite for the email, expired before the new
	// one is inserted so it no longer holds the (org, email) slot.
	lapsedInviteID string
	// inviteID is the id of the planned invite; sent says it was inserted (and so must
	// be sent).
	inviteID string
	sent     bool
}

// screen sorts a page's rows into counts (for every row that cannot be invited, also
// listed in skipped) and candidates (in page order), using sit, the directory's view of
// each email. seen holds the emails earlier rows of the import used; screen adds the
// page's. base is the import position of rows[0].
func screen(rows []SalesforceUser, checkActive bool, sit map[string]directory.EmailSituation,
	seen *emailSet, c *directory.ImportCounts, base int) (out []candidate, skipped []directory.SkippedRow) {
	for i, r := range rows {
		c.Found++
		email := directory.NormalizeEmail(r.Email)
		skip := func(n *int, reason string) {
			*n++
			skipped = append(skipped, directory.SkippedRow{Seq: base + i, SalesforceUserID: r.ID,
				Email: email, Name: r.Name, Reason: reason})
		}
		if checkActive && !r.IsActive {
			skip(&c.SkippedInactive, "skipped_inactive")
			continue
		}
		if checkActive && r.UserType != "Standard" {
			skip(&c.SkippedNotStandard, "skipped_not_standard")
			continue
		}
		if email == "" {
			skip(&c.SkippedNoEmail, "skipped_no_email")
			continue
		}
		if !validEmail(email) {
			skip(&c.SkippedInvalidEmail, "skipped_invalid_email")
			continue
		}
		if !seen.add(email) {
			skip(&c.DuplicateInImport, "duplicate_in_import")
			continue
		}
		s := sit[email]
		switch {
		case s.MembershipID != "" && s.MembershipStatus == directory.MembershipActive:
			skip(&c.AlreadyMember, "already_member")
		case s.PendingInviteID != "":
			skip(&c.AlreadyInvited, ReasonAlreadyInvited)
		default:
			out = append(out, candidate{
				row: r, seq: base + i, email: email, userID: s.UserID,
				addMembership: s.UserID != "" && s.MembershipID == "",
				// A deactivated member invited again is invited: the Join reactivates the
				// membership this org already has.
				multiAccount:   s.UserID != "" && s.InOtherOrg && s.MembershipStatus != directory.MembershipDeactivated,
				lapsedInviteID: s.LapsedInviteID,
			})
		}
	}
	return out, skipped
}

// pageEmails returns the distinct, valid, not-yet-seen emails of rows: what the directory
// must be asked about.
func pageEmails(rows []SalesforceUser, checkActive bool, seen *emailSet) []string {
	var out []string
	for _, r := range rows {
		if checkActive && (!r.IsActive || r.UserType != "Standard") {
			continue
		}
		if e := directory.NormalizeEmail(r.Email); e != "" && validEmail(e) && !seen.has(e) {
			out = append(out, e)
		}
	}
	return out
}

// split keeps the first n candidates (n < 0: all) and returns the rest as refused.
func split(cands []candidate, n int) (keep, refused []candidate) {
	if n < 0 || n >= len(cands) {
		return cands, nil
	}
	return cands[:n], cands[n:]
}
