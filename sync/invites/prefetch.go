package invites

import "context"

// streamFunc is a Directory.StreamUsers call waiting for its page callback.
type streamFunc func(ctx context.Context, fn func(page []SalesforceUser, total int) error) error

// prefetched runs stream in its own goroutine and calls fn with each page in the
// caller's, so Salesforce answers the next query while fn writes the current page. The
// hand-over is unbuffered: the stream blocks with the next page until fn is done with
// this one, so at most one page is fetched ahead and memory stays at two pages. An error
// from fn stops the stream and is returned; otherwise the stream's error is.
func prefetched(ctx context.Context, stream streamFunc, fn func(page []SalesforceUser, total int) error) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		page  []SalesforceUser
		total int
	}
	pages := make(chan item)
	done := make(chan error, 1)
	go func() {
		defer close(pages)
		done <- stream(sctx, func(page []SalesforceUser, total int) error {
			select {
			case pages <- item{page, total}:
				return nil
			case <-sctx.Done():
				return sctx.Err()
			}
		})
	}()
	for it := range pages {
		if err := fn(it.page, it.total); err != nil {
			cancel()
			for range pages {
			}
			<-done
			return err
		}
	}
	return <-done
}

// streamPages calls fn with each page of q, prefetching unless the service is configured
// sequential.
func (r *run) streamPages(ctx context.Context, q UserQuery, fn func(page []SalesforceUser, total int) error) error {
	stream := func(ctx context.Context, fn func([]SalesforceUser, int) error) error {
		return r.dir.StreamUsers(ctx, q, fn)
	}
	if r.s.sequential {
		return stream(ctx, fn)
	}
	return prefetched(ctx, stream, fn)
}
