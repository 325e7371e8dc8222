package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"tether/sync/reminders"
)

var _ reminders.SlackStore = (*Queries)(nil)

// SlackConfig returns the org's Slack set-up for reminders; a zero SlackConfig when it
// has none. Returns directory.ErrNotFound for an unknown org.
func (q *Queries) SlackConfig(ctx context.Context, orgID string) (reminders.SlackConfig, error) {
	var c reminders.SlackConfig
	err := q.q.QueryRowContext(ctx, `SELECT token_enc, problem, problem_at, updated_at FROM reminder_slack WHERE org_id = $1`,
		orgID).Scan(&c.TokenEnc, &c.Problem, ts(&c.ProblemAt), ts(&c.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		_, err = q.GetOrg(ctx, orgID)
		return reminders.SlackConfig{}, err
	}
	if c.Problem == "" {
		c.ProblemAt = time.Time{}
	}
	return c, q.wrap(err, "read the Slack set-up of org %s", orgID)
}

// SetSlackToken stores the org's sealed Slack bot token and clears its problem; nil
// removes the set-up. Returns directory.ErrNotFound for an unknown org.
func (q *Queries) SetSlackToken(ctx context.Context, orgID string, sealed []byte, at time.Time) error {
	if err := requireOrg(orgID); err != nil {
		return err
	}
	if sealed == nil {
		if _, err := q.GetOrg(ctx, orgID); err != nil {
			return err
		}
		_, err := q.q.ExecContext(ctx, `DELETE FROM reminder_slack WHERE org_id = $1`, orgID)
		return q.wrap(err, "remove the Slack token of org %s", orgID)
	}
	_, err := q.q.ExecContext(ctx, `INSERT INTO reminder_slack (org_id, token_enc, problem, problem_at, updated_at)
VALUES ($1, $2, '', $3, $3)
ON CONFLICT (org_id) DO UPDATE SET token_enc = excluded.token_enc, problem = '', problem_at = excluded.problem_at,
    updated_at = excluded.updated_at`, orgID, sealed, tm(at))
	return q.wrap(err, "set the Slack token of org %s", orgID)
}

// SetSlackProblem records why Slack refused the org's token. A no-op when the org has no
// token (it was removed meanwhile).
func (q *Queries) SetSlackProblem(ctx context.Context, orgID, problem string, at time.Time) error {
	_, err := q.q.ExecContext(ctx, `UPDATE reminder_slack SET problem = $1, problem_at = $2 WHERE org_id = $3`,
		problem, tm(at), orgID)
	return q.wrap(err, "record the Slack problem of org %s", orgID)
}

// SetSlackFailure records the membership's last failed Slack message (Slack's reason
// and when); a membership the org does not have is left alone.
func (q *Queries) SetSlackFailure(ctx context.Context, orgID, membershipID string, f reminders.SlackFailure) error {
	_, err := q.q.ExecContext(ctx, `UPDATE memberships SET slack_failure = $1, slack_failed_at = $2 WHERE org_id = $3 AND id = $4`,
		f.Reason, tm(f.At), orgID, membershipID)
	return q.wrap(err, "record the Slack failure of member %s of org %s", membershipID, orgID)
}

// SlackNotFound lists the recipients of the org's skipped Slack messages (Slack knew no
// user by that email), latest first, each once, at most limit (<= 0 means 1000).
func (q *Queries) SlackNotFound(ctx context.Context, orgID string, limit int) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, `SELECT recipients, MAX(sent_at) AS at FROM reminders
WHERE org_id = $1 AND channel = 'slack' AND status = 'skipped'
GROUP BY recipients ORDER BY at DESC LIMIT $2`, orgID, pageSize(limit))
	if err != nil {
		return nil, q.wrap(err, "list reps Slack did not know in org %s", orgID)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var to []string
		var at time.Time
		if err := rows.Scan(js(&to), ts(&at)); err != nil {
			return nil, q.wrap(err, "list reps Slack did not know in org %s", orgID)
		}
		out = append(out, to...)
	}
	return out, q.wrap(rows.Err(), "list reps Slack did not know in org %s", orgID)
}
