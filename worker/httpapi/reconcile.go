package httpapi

import "net/http"

// handleReconcile is POST /v1/reconcile: queues a reconcile run now (202 with the task's
// id); the worker gives every unfinished import and unsent invitation its task back.
func (s *Server) handleReconcile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.p.Reconcile(r.Context())
		if err != nil {
			s.log.Error().Err(err).Msg("queue reconcile")
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "not_queued",
				Message: "the reconcile run could not be queued: Redis is unreachable; see the server log, fix Redis and try again"})
			return
		}
		writeJSON(w, http.StatusAccepted, struct {
			TaskID string `json:"task_id"`
		}{id})
	})
}
