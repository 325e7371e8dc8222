package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/spf13/cobra"

	"tether/sync/apitokens"
	"tether/sync/directory"
	"tether/worker/httpapi"
)

func newTokensCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke API tokens for the /v1 API",
		Long: `API tokens let programs call the /v1 API with "Authorization: Bearer <token>". A token
can be limited to some orgs (--org, repeatable; without it, every org) and to reading
(--read-only). Only the SHA-256 of a token is stored: it is printed once, at creation.
The global TETHER_API_TOKEN and admin password stay for operators.
Over HTTP (operator credentials): POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{id}.`,
	}
	var (
		name     string
		orgIDs   []string
		readOnly bool
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Issue a token and print it (once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, closeFn, err := tokenService(cmd, e)
			if err != nil {
				return err
			}
			defer closeFn()
			t, secret, err := svc.Create(cmd.Context(), apitokens.CreateRequest{Name: name, OrgIDs: orgIDs, ReadOnly: readOnly})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "token %s (%s) for %s%s:\n%s\nstore it now: it is not shown again\n",
				t.ID, t.Name, scope(t), map[bool]string{true: ", read-only"}[t.ReadOnly], secret)
			return err
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what uses the token (required)")
	create.Flags().StringArrayVar(&orgIDs, "org", nil, "org id the token may act on (repeatable; none: every org)")
	create.Flags().BoolVar(&readOnly, "read-only", false, "the token may only read (GET)")
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List tokens (never their secrets)",
		Long:  "Lists every API token: id, name, orgs, access, when created and revoked; never a secret. --json prints the JSON GET /v1/tokens answers.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, closeFn, err := tokenService(cmd, e)
			if err != nil {
				return err
			}
			defer closeFn()
			ts, err := svc.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, httpapi.TokenListOf(ts))
			}
			tb := newTable(e.stdout, "ID", "NAME", "ORGS", "ACCESS", "CREATED", "REVOKED")
			for _, t := range ts {
				access, revoked := "read-write", "-"
				if t.ReadOnly {
					access = "read-only"
				}
				if !t.RevokedAt.IsZero() {
					revoked = t.RevokedAt.Format("2006-01-02 15:04Z")
				}
				tb.AppendRow(table.Row{t.ID, t.Name, scope(t), access, t.CreatedAt.Format("2006-01-02 15:04Z"), revoked})
			}
			tb.Render()
			return nil
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, closeFn, err := tokenService(cmd, e)
			if err != nil {
				return err
			}
			defer closeFn()
			if err := svc.Revoke(cmd.Context(), args[0]); errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("no live API token %s: it does not exist or is revoked already (tether tokens list shows the live ones)", args[0])
			} else if err != nil {
				return fmt.Errorf("revoke token %s: %w", args[0], err)
			}
			_, err = fmt.Fprintf(e.stdout, "token %s revoked\n", args[0])
			return err
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the JSON GET /v1/tokens answers")
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func scope(t apitokens.Token) string {
	if len(t.OrgIDs) == 0 {
		return "every org"
	}
	return "orgs " + strings.Join(t.OrgIDs, ",")
}

func tokenService(cmd *cobra.Command, e env) (*apitokens.Service, func(), error) {
	st, err := openConfiguredStore(cmd, e)
	if err != nil {
		return nil, nil, err
	}
	svc, err := apitokens.New(st)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return svc, func() { _ = st.Close() }, nil
}
