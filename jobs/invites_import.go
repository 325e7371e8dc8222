package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// Task types of the invite import. Both run the same import service; the email route has
// its own type so queues, metrics and dashboards tell Salesforce reads from plain lists.
const (
	// TypeInvitesImport imports Salesforce users (by profile or by user id) as invites.
	TypeInvitesImport = "invites:import"
	// TypeInvitesImportEmails imports a plain list of email addresses as invites.
	TypeInvitesImportEmails = "invites:import_emails"
)

// InvitesImport is the payload of both import types: ids only. The selection, role and
// group live in the import row (the email list too: it is personal data and may be long).
type InvitesImport struct {
	OrgID    string `json:"org_id"`
	ImportID string `json:"import_id"`
	// Since is when the import was created, Unix seconds (0 in tasks queued before it was
	// added): a give-up says how long the retries ran, counted from it.
	Since int64 `json:"since,omitempty"`
}

// Validate reports a missing org or import id.
func (p InvitesImport) Validate() error {
	switch {
	case p.OrgID == "":
		return errors.New("org_id is required")
	case p.ImportID == "":
		return errors.New("import_id is required")
	}
	return nil
}

// InvitesImportRetention keeps a finished import task (its result holds the summary) and
// so refuses a duplicate enqueue of the same import for a day.
const InvitesImportRetention = 24 * time.Hour

// InvitesImportMaxRetry bounds retries of transient failures (Salesforce or database
// unavailable). A pause for the API budget does not spend one.
const InvitesImportMaxRetry = 10

// NewImportTask returns the invites:import task of an import: default queue, TaskID
// "invites:import:<org>:<import>" kept for InvitesImportRetention, InvitesImportMaxRetry
// retries, 30-minute timeout (100,000 users take well under that).
// since is the import's creation time.
func NewImportTask(orgID, importID string, since time.Time) (*asynq.Task, error) {
	return newImportTask(TypeInvitesImport, orgID, importID, since)
}

// NewImportEmailsTask is NewImportTask for the email route (invites:import_emails).
func NewImportEmailsTask(orgID, importID string, since time.Time) (*asynq.Task, error) {
	return newImportTask(TypeInvitesImportEmails, orgID, importID, since)
}

// TaskIDInvitesImport is the TaskID of an import task of type typ.
func TaskIDInvitesImport(typ, orgID, importID string) string {
	return typ + ":" + orgID + ":" + importID
}

func newImportTask(typ, orgID, importID string, since time.Time) (*asynq.Task, error) {
	b, err := encode(InvitesImport{OrgID: orgID, ImportID: importID, Since: unixOrZero(since)})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(typ, b,
		asynq.Queue(QueueDefault),
		asynq.TaskID(TaskIDInvitesImport(typ, orgID, importID)),
		asynq.Retention(InvitesImportRetention),
		asynq.MaxRetry(InvitesImportMaxRetry),
		asynq.Timeout(30*time.Minute),
	), nil
}
