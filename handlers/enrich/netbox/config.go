package netbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a NetBox desired-state source.
type Config struct {
	// URL is NetBox's base URL, without /api ("https://netbox.example.com"); required. A
	// trailing "/" or "/api" is dropped.
	URL string
	// Token is a NetBox API token, sent as "Authorization: Token <token>"; required. It
	// needs read permission on devices, virtual machines, their interfaces, custom fields
	// and, for Changes, object changes.
	Token string
	// Timeout bounds each HTTP request to NetBox; default 10s.
	Timeout time.Duration
	// CacheTTL is how long a CI's desired state, or its absence, is served from the cache;
	// default 60s.
	CacheTTL time.Duration
	// PageSize is the limit of each list request; default 100, at most 1000 (NetBox's
	// MAX_PAGE_SIZE caps it there).
	PageSize int
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = 60 * time.Second
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	c.URL = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(c.URL), "/"), "/api")
}

// Validate reports every problem with c at once; each error names its field.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http or https URL with a host", c.URL))
	} else if u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, fmt.Errorf("url: %q has a query or fragment", c.URL))
	}
	if strings.TrimSpace(c.Token) == "" {
		errs = append(errs, errors.New("token: required"))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: %s is negative", c.Timeout))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("cache_ttl: %s is negative", c.CacheTTL))
	}
	if c.PageSize < 1 || c.PageSize > 1000 {
		errs = append(errs, fmt.Errorf("page_size: %d is not between 1 and 1000", c.PageSize))
	}
	return errors.Join(errs...)
}

// Option changes how New builds a Source.
type Option func(*options)

type options struct {
	now       func() time.Time
	transport http.RoundTripper
}

// WithClock makes the cache read time from now instead of time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithTransport sends requests through rt (for a proxy or a private CA) instead of a clone
// of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }
