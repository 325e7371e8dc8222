package invites

import (
	"net/mail"
	"strings"

	"tether/sync/directory"
)

// Reasons written in refused rows.
const (
	ReasonOverSeatLimit = "over_seat_limit"
	ReasonNotFound      = "not_found"
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
	email string // normalised
	// userID is set when the email belongs to an existing user: the invite then also adds
	// a pending membership (unless the user already has one in the org).
	userID        string
	addMembership bool
	multiAccount  bool // the user belongs to another org
	// inviteID is the id of the planned invite; sent says it was inserted (and so must
	// be sent).
	inviteID string
	sent     bool
}

// screen sorts a page's rows into counts (for every row that cannot be invited) and
// candidates (in page order), using sit, the directory's view of each email. seen holds
// the emails earlier rows of the import used; screen adds the page's.
func screen(rows []SalesforceUser, checkActive bool, sit map[string]directory.EmailSituation,
	seen *emailSet, c *directory.ImportCounts) []candidate {
	var out []candidate
	for _, r := range rows {
		c.Found++
		if checkActive && !r.IsActive {
			c.SkippedInactive++
			continue
		}
		if checkActive && r.UserType != "Standard" {
			c.SkippedNotStandard++
			continue
		}
		email := directory.NormalizeEmail(r.Email)
		if email == "" {
			c.SkippedNoEmail++
			continue
		}
		if !validEmail(email) {
			c.SkippedInvalidEmail++
			continue
		}
		if !seen.add(email) {
			c.DuplicateInImport++
			continue
		}
		s := sit[email]
		switch {
		case s.MembershipID != "" && s.MembershipStatus != directory.MembershipPending:
			c.AlreadyMember++
		case s.PendingInviteID != "":
			c.AlreadyInvited++
		default:
			out = append(out, candidate{
				row: r, email: email, userID: s.UserID,
				addMembership: s.UserID != "" && s.MembershipID == "",
				multiAccount:  s.UserID != "" && s.InOtherOrg,
			})
		}
	}
	return out
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
