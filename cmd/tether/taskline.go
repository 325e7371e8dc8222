package main

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"tether/worker"
)

// retryLine says when a retrying task runs again and why its last attempt failed, in the
// worker's sentence (worker.LastError: never an error's chain). When since is set (the
// row's start, named by sinceWhat, e.g. "the import started") it also says how long the
// work has been retrying: Asynq keeps no first attempt's time.
func retryLine(info *asynq.TaskInfo, since time.Time, sinceWhat string, now time.Time) string {
	out := "its task runs again at " + info.NextProcessAt.UTC().Format(time.RFC3339)
	if !since.IsZero() && !info.LastFailedAt.IsZero() && now.After(since) {
		out += fmt.Sprintf(" (retrying for %s since %s)", now.Sub(since).Round(time.Second), sinceWhat)
	}
	if why := worker.LastError(info); why != "" {
		out += ": " + why
	}
	return out
}

// gaveUpLine says a task was archived, and why in the worker's sentence; what names the
// row the worker or the reconciler marks failed ("the import").
func gaveUpLine(info *asynq.TaskInfo, what string) string {
	out := "its task gave up"
	if why := worker.LastError(info); why != "" {
		out += ": " + why
	}
	return out + "; " + what + " is marked failed by the worker or the reconciler"
}
