package oauth

import (
	"cmp"
	"fmt"
	"net/http"
	"time"
)

// DefaultTimeout bounds one token-endpoint request when Config.Timeout is 0.
const DefaultTimeout = 15 * time.Second

// Config configures a Client.
type Config struct {
	// Providers is the registry; names must be unique.
	Providers []Provider
	// HTTPClient performs token requests. Nil means a client with
	// DefaultTimeout. It is passed to x/oauth2 through the context, so
	// http.DefaultClient is never used.
	HTTPClient *http.Client
	// Timeout bounds each token request, whatever HTTPClient does. Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Expiry, IssuedAt and Retry-After dates. Nil
	// means time.Now.
	Now func() time.Time
}

// Client refreshes and revokes tokens of the registered providers. It holds
// no tokens and is safe for concurrent use; serialising refreshes of one
// connection is the caller's job.
type Client struct {
	providers map[string]Provider
	hc        *http.Client
	timeout   time.Duration
	now       func() time.Time
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	c := &Client{
		providers: make(map[string]Provider, len(cfg.Providers)),
		hc:        cfg.HTTPClient,
		timeout:   cmp.Or(cfg.Timeout, DefaultTimeout),
		now:       cfg.Now,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: c.timeout, Transport: NewTransport()}
	}
	if c.now == nil {
		c.now = time.Now
	}
	for _, p := range cfg.Providers {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := c.providers[p.Name]; dup {
			return nil, fmt.Errorf("oauth provider %s: registered twice", p.Name)
		}
		c.providers[p.Name] = p
	}
	return c, nil
}

// MaxIdleConnsPerHost is how many idle connections to one token host NewTransport keeps:
// as many as a worker runs refreshes at once (TETHER_WORKER_CONCURRENCY's default and
// more), so refreshes reuse their connections.
const MaxIdleConnsPerHost = 128

// NewTransport is the HTTP transport for provider calls: http.DefaultTransport's settings
// with MaxIdleConnsPerHost idle connections per host instead of 2. With 2, a worker running
// 100 refreshes against one token host dialled (and the host accepted and closed) a new TCP
// connection for nearly every refresh, a large share of a refresh's CPU.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	t.MaxIdleConns = 4 * MaxIdleConnsPerHost // a few hosts' worth (Salesforce orgs have their own)
	return t
}

// Provider returns the registry entry called name.
func (c *Client) Provider(name string) (Provider, bool) {
	p, ok := c.providers[name]
	return p, ok
}

func (c *Client) provider(op, name string) (Provider, error) {
	p, ok := c.providers[name]
	if !ok {
		return Provider{}, &Error{Provider: name, Op: op, Class: ClassMisconfigured,
			Code: "unknown_provider", Description: "no provider registered under this name"}
	}
	return p, nil
}
