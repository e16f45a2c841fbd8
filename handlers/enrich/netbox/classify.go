package netbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	nb "github.com/netbox-community/go-netbox/v4"

	"github.com/driftwatch/driftwatch/pipeline/fault"
)

// classify turns what the go-netbox client returned for one request into driftwatch's
// error classes: transport failures, timeouts, 408, 429 and 5xx are returned as they are
// (retryable); a 2xx answer that does not decode, 401, 403, 404 and other 4xx are marked
// fault.Permanent. what names the request ("list dcim.device name=\"web-1\"").
func classify(what string, resp *http.Response, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *nb.GenericOpenAPIError
	isAPI := errors.As(err, &apiErr)
	if resp == nil {
		return fmt.Errorf("netbox %s: %w", what, err)
	}
	status := resp.StatusCode
	switch {
	case status < 300 && isAPI:
		return fault.Permanent(fmt.Errorf("netbox %s: the answer does not match NetBox's schema: %s", what, decodeProblem(apiErr.Error())))
	case status < 300:
		// The body could not be read: the connection broke.
		return fmt.Errorf("netbox %s: read answer: %w", what, err)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fault.Permanent(fmt.Errorf("netbox %s: NetBox refused the API token (%s): %s", what, resp.Status, detail(apiErr)))
	case status == http.StatusNotFound:
		return fault.Permanent(fmt.Errorf("netbox %s: NetBox has no such API at %s (%s): check the URL", what, endpoint(resp), resp.Status))
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("netbox %s: NetBox answered %s: %s", what, resp.Status, detail(apiErr))
	default:
		return fault.Permanent(fmt.Errorf("netbox %s: NetBox answered %s: %s", what, resp.Status, detail(apiErr)))
	}
}

// decodeProblem rewrites encoding/json's wording for go-netbox's private model types
// ("Go struct field _DeviceWithConfigContext.results.id of type int32") so that it names
// the field by its JSON path.
func decodeProblem(msg string) string {
	const marker = "Go struct field "
	i := strings.Index(msg, marker)
	if i < 0 {
		return msg
	}
	field, typ, ok := strings.Cut(msg[i+len(marker):], " of type ")
	if !ok {
		return msg
	}
	_, path, _ := strings.Cut(field, ".")
	typ = strings.TrimPrefix(strings.TrimPrefix(typ, "netbox."), "_")
	return fmt.Sprintf("field %q: %s Go value of type %s", path, strings.TrimSpace(msg[:i]), typ)
}

// detail is NetBox's {"detail": ...} message, or the start of the body.
func detail(apiErr *nb.GenericOpenAPIError) string {
	if apiErr == nil {
		return "no body"
	}
	body := apiErr.Body()
	var d struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &d) == nil && d.Detail != "" {
		return d.Detail
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "no body"
	}
	return s
}

func endpoint(resp *http.Response) string {
	if resp.Request == nil || resp.Request.URL == nil {
		return "the configured URL"
	}
	u := *resp.Request.URL
	u.RawQuery = ""
	return u.String()
}

// queryKey carries query parameters the go-netbox client has no setter for (custom-field
// filters, cf_<name>, which NetBox adds at run time) to queryTransport.
type queryKey struct{}

func withQuery(ctx context.Context, key, value string) context.Context {
	q := url.Values{}
	if prev, ok := ctx.Value(queryKey{}).(url.Values); ok {
		for k, vs := range prev {
			q[k] = append([]string(nil), vs...)
		}
	}
	q.Add(key, value)
	return context.WithValue(ctx, queryKey{}, q)
}

// queryTransport adds the query parameters of withQuery to each request.
type queryTransport struct{ base http.RoundTripper }

func (t queryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	extra, ok := r.Context().Value(queryKey{}).(url.Values)
	if !ok {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	q := r.URL.Query()
	for k, vs := range extra {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	r.URL.RawQuery = q.Encode()
	return t.base.RoundTrip(r)
}
