package httpapi

import "net/http"

// handleSweepConnections is POST /v1/connections/sweep: queues a connection sweep now
// (202 with the task's id); a worker then queues a refresh or verification of every
// connection due or overdue, as the 5-minute scheduled sweep does.
func (s *Server) handleSweepConnections() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.p.SweepConnections(r.Context())
		if err != nil {
			s.log.Error().Err(err).Msg("queue connections sweep")
			writeError(w, http.StatusServiceUnavailable, APIError{Code: "not_queued",
				Message: "the connection sweep could not be queued: Redis is unreachable; see the server log, fix Redis and try again"})
			return
		}
		writeJSON(w, http.StatusAccepted, struct {
			TaskID string `json:"task_id"`
		}{id})
	})
}
