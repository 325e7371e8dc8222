package httpapi

import (
	"net/http"
	"strconv"

	"tether/sync/keys"
)

// handleKeyStatus is GET /v1/keys: sealed values per key id, primary first.
func (s *Server) handleKeyStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counts, err := s.p.Keys.Status(r.Context(), 0)
		if err != nil {
			s.log.Error().Err(err).Msg("key status")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "the key status could not be read; see the server log"})
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Keys []keys.KeyCount `json:"keys"`
		}{counts})
	})
}

// handleReseal is POST /v1/keys/reseal[?batch=N]: reseals every value not under the
// primary key, then answers with the totals. Long for a big table; `tether keys reseal`
// prints progress as it goes.
func (s *Server) handleReseal() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		batch := 0
		if v := r.URL.Query().Get("batch"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				writeError(w, http.StatusBadRequest, APIError{Code: "invalid_batch", Message: "batch must be a whole number from 1 to 10000"})
				return
			}
			batch = n
		}
		p, err := s.p.Keys.Reseal(r.Context(), batch, nil)
		if err != nil {
			s.log.Error().Err(err).Msg("key reseal")
			writeError(w, http.StatusInternalServerError, APIError{Code: "reseal_failed",
				Message: "the reseal stopped; see the server log for the row and its cause, fix it and run again (it resumes)"})
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Rows     int    `json:"rows"`
			Resealed int    `json:"resealed"`
			Skipped  int    `json:"skipped"`
			Stashed  int    `json:"stashed"`
			Primary  string `json:"primary"`
		}{p.Rows, p.Resealed, p.Skipped, p.Stashed, s.p.Keys.Primary()})
	})
}
