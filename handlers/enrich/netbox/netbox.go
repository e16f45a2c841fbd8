// Package netbox adapts NetBox 4.3 to enrich.DesiredSource: the desired state of a CI is
// read from the NetBox device or virtual machine that stands for it, through the REST API
// with the go-netbox v4.3.0 client. SCHEMA.md says how a NetBox object becomes the desired
// state document driftwatch compares observations with.
//
// A CI is the object whose name is the CI id, or, when the custom field driftwatch_ci is
// defined, whose driftwatch_ci is the CI id; virtual machines are looked at first for CIs of
// type "vm", devices first for the others. Answers, found or not, are cached per CI for
// Config.CacheTTL; NetBox's webhooks (VerifySignature, ParseWebhook) and its change log
// (Changes) say which CIs to Invalidate.
//
// Cost per Desired on a cache miss: one list request per kind and match rule tried (name,
// then driftwatch_ci; at most four, usually one or two), one for the custom field (itself
// cached), and the pages of the object's interfaces.
package netbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	nb "github.com/netbox-community/go-netbox/v4"

	"github.com/driftwatch/driftwatch/handlers/enrich"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// SourceName is the name of the source in drifts and in Desired.Source.
const SourceName = "netbox"

// Source serves desired state from NetBox. It is safe for concurrent use.
type Source struct {
	cfg   Config
	api   *nb.APIClient
	now   func() time.Time
	cache *cache

	// mu guards the kinds the custom field driftwatch_ci applies to, cached for CacheTTL.
	mu         sync.Mutex
	ciKinds    map[string]bool
	ciKindsExp time.Time
}

var _ enrich.DesiredSource = (*Source)(nil)

// New returns a Source over the NetBox at cfg.URL; it does not contact NetBox.
func New(cfg Config, opts ...Option) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new netbox source: %w", err)
	}
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		return nil, errors.New("new netbox source: clock: required")
	}
	if o.transport == nil {
		o.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	nc := nb.NewConfiguration()
	nc.Servers = nb.ServerConfigurations{{URL: cfg.URL, Description: "NetBox"}}
	nc.AddDefaultHeader("Authorization", "Token "+cfg.Token)
	nc.UserAgent = "driftwatch"
	nc.HTTPClient = &http.Client{Timeout: cfg.Timeout, Transport: queryTransport{base: o.transport}}
	return &Source{cfg: cfg, api: nb.NewAPIClient(nc), now: o.now, cache: newCache(cfg.CacheTTL, o.now)}, nil
}

// Name implements enrich.DesiredSource.
func (s *Source) Name() string { return SourceName }

// Desired implements enrich.DesiredSource: the desired state document of the device or
// virtual machine that stands for q.CIID, in canonical form. found is false when NetBox has
// none. Errors are retryable for transport failures, timeouts and 5xx; an answer that does
// not match NetBox's schema, a refused token, a wrong URL, two objects claiming the CI and a
// desired state that is not an object are fault.Permanent. q.TemplateID and q.Position are
// not used: NetBox is not built from driftwatch's event store, and the cache's freshness
// comes from webhooks and the change log instead.
func (s *Source) Desired(ctx context.Context, q enrich.Query) (drift.Desired, bool, error) {
	if strings.TrimSpace(q.CIID) == "" {
		return drift.Desired{}, false, fault.Permanent(errors.New("netbox desired state: ci id: required"))
	}
	key := cacheKey{ci: q.CIID, vmFirst: q.CIType == "vm"}
	res, err := s.cache.get(ctx, key, func(ctx context.Context) (resolved, error) {
		return s.resolve(ctx, key)
	})
	if err != nil {
		return drift.Desired{}, false, fmt.Errorf("netbox desired state of %s: %w", q.CIID, err)
	}
	return res.desired, res.found, nil
}

// Invalidate drops the cached answers for the CIs named in ciIDs and for CIs resolved from
// NetBox objects of those names (Touched.Names holds both kinds of name).
func (s *Source) Invalidate(ciIDs ...string) { s.cache.invalidate(ciIDs) }

// InvalidateAll drops every cached answer and what is known of the driftwatch_ci field.
func (s *Source) InvalidateAll() {
	s.cache.invalidateAll()
	s.mu.Lock()
	s.ciKinds = nil
	s.mu.Unlock()
}

// InvalidateTouched invalidates what t names: everything when t.All is set.
func (s *Source) InvalidateTouched(t Touched) {
	if t.All {
		s.InvalidateAll()
		return
	}
	if len(t.Names) > 0 {
		s.Invalidate(t.Names...)
	}
}

func (s *Source) resolve(ctx context.Context, key cacheKey) (resolved, error) {
	kinds := []string{objDevice, objVM}
	if key.vmFirst {
		kinds = []string{objVM, objDevice}
	}
	ciKinds, err := s.ciFieldKinds(ctx)
	if err != nil {
		return resolved{}, err
	}
	for _, kind := range kinds {
		for _, byField := range []bool{false, true} {
			if byField && !ciKinds[kind] {
				continue
			}
			obj, ok, err := s.findObject(ctx, kind, key.ci, byField)
			if err != nil {
				return resolved{}, err
			}
			if !ok {
				continue
			}
			if err := s.loadInterfaces(ctx, &obj); err != nil {
				return resolved{}, err
			}
			doc, err := document(obj)
			if err != nil {
				return resolved{}, fault.Permanent(fmt.Errorf("%s %d (%s): %w", obj.kind, obj.id, obj.name, err))
			}
			return resolved{
				desired: drift.Desired{
					Source:       SourceName,
					Ref:          fmt.Sprintf("%s %d", obj.kind, obj.id),
					Definition:   doc,
					BaselineHash: drift.HashCanonical(doc),
				},
				found:  true,
				object: obj.name,
			}, nil
		}
	}
	return resolved{}, nil
}
