package httpapi

import (
	"errors"
	"net/http"

	"tether/sync/apitokens"
	"tether/sync/directory"
)

// TokenCreated is the answer to POST /v1/tokens: the token and, this once, its secret.
type TokenCreated struct {
	apitokens.Token
	Secret string `json:"secret"`
}

// handleCreateToken is POST /v1/tokens {"name", "org_ids", "read_only"}: 201 with the
// secret, shown only here.
func (s *Server) handleCreateToken() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body apitokens.CreateRequest
		if err := decodeJSON(w, r, 64<<10, &body); err != nil {
			writeError(w, http.StatusBadRequest, APIError{Code: "invalid_json",
				Message: `the body must be {"name": "...", "org_ids": ["..."], "read_only": false}: ` + err.Error()})
			return
		}
		t, secret, err := s.p.Tokens.Create(r.Context(), body)
		if errors.Is(err, apitokens.ErrInvalid) {
			writeError(w, http.StatusUnprocessableEntity, APIError{Code: "invalid_token_request", Message: err.Error()})
			return
		}
		if err != nil {
			s.log.Error().Err(err).Msg("create api token")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the token could not be created; see the server log"})
			return
		}
		writeJSON(w, http.StatusCreated, TokenCreated{Token: t, Secret: secret})
	})
}

// handleListTokens is GET /v1/tokens: every token, revoked ones too, never a secret.
func (s *Server) handleListTokens() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts, err := s.p.Tokens.List(r.Context())
		if err != nil {
			s.log.Error().Err(err).Msg("list api tokens")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the tokens could not be listed; see the server log"})
			return
		}
		writeJSON(w, http.StatusOK, TokenListOf(ts))
	})
}

// TokenListJSON is GET /v1/tokens's answer; a token's secret is never in it.
type TokenListJSON struct {
	Tokens []apitokens.Token `json:"tokens"`
}

// TokenListOf is ts as the route lists them.
func TokenListOf(ts []apitokens.Token) TokenListJSON {
	if ts == nil {
		ts = []apitokens.Token{}
	}
	return TokenListJSON{Tokens: ts}
}

// handleRevokeToken is DELETE /v1/tokens/{id}: 204, or 404 for an unknown or revoked id.
func (s *Server) handleRevokeToken() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		err := s.p.Tokens.Revoke(r.Context(), id)
		if errors.Is(err, directory.ErrNotFound) {
			writeError(w, http.StatusNotFound, APIError{Code: "not_found", Message: "no live API token " + id + " (tether tokens list shows them)"})
			return
		}
		if err != nil {
			s.log.Error().Err(err).Msg("revoke api token")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the token could not be revoked; see the server log"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
