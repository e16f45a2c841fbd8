package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/driftwatch/driftwatch/pipeline/drift"
)

// Media types the API reads.
const (
	mediaJSON       = "application/json"
	mediaYAML       = "application/yaml"
	mediaMergePatch = "application/merge-patch+json"
	mediaJSONPatch  = "application/json-patch+json"
)

// yamlTypes are the media types read as YAML.
var yamlTypes = map[string]bool{mediaYAML: true, "application/x-yaml": true, "text/yaml": true, "text/x-yaml": true}

// mediaType returns the request's media type; a request without one is JSON. Bodies are
// read as UTF-8 only: a charset parameter naming anything else is a 415.
func mediaType(r *http.Request) (string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", problem(http.StatusUnsupportedMediaType, "unsupported-media-type", fmt.Sprintf("Content-Type %q cannot be parsed", ct))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "", problem(http.StatusUnsupportedMediaType, "unsupported-media-type", fmt.Sprintf("charset %q is not accepted: send UTF-8", cs))
	}
	return mt, nil
}

// unsupported is the 415 for a media type the endpoint does not read.
func unsupported(mt string, accepted ...string) *Problem {
	return problem(http.StatusUnsupportedMediaType, "unsupported-media-type",
		fmt.Sprintf("Content-Type %q is not accepted here; use %s", mt, strings.Join(accepted, " or ")))
}

// readBody reads the whole request body; a body over the limit is a 413. A declared length
// sizes the buffer once (one byte more, to see the end), instead of growing it by doubling.
func readBody(r *http.Request) ([]byte, error) {
	size := 512
	if n := r.ContentLength; n > 0 && n < 1<<20 {
		size = int(n) + 1
	}
	data, err := readAll(r.Body, make([]byte, 0, size))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, problem(http.StatusRequestEntityTooLarge, "too-large",
			fmt.Sprintf("the request body exceeds the limit of %d bytes", tooLarge.Limit))
	case err != nil:
		return nil, badRequest(fmt.Sprintf("the request body could not be read: %v", err))
	}
	return data, nil
}

// readAll is io.ReadAll into buf, which grows only when it is full.
func readAll(rd io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decodeBody reads the request body strictly into v: JSON, or YAML when allowYAML and the
// Content-Type says so. An unknown member is a 400 naming it (with its line in YAML).
func decodeBody(r *http.Request, v any, allowYAML bool) error {
	mt, err := mediaType(r)
	if err != nil {
		return err
	}
	isYAML := allowYAML && yamlTypes[mt]
	if mt != mediaJSON && !isYAML {
		if allowYAML {
			return unsupported(mt, mediaJSON, mediaYAML)
		}
		return unsupported(mt, mediaJSON)
	}
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("a request body is required")
	}
	if isYAML {
		if data, err = yamlToJSON(data, knownFields(reflect.TypeOf(v))); err != nil {
			return err
		}
	}
	return decodeJSON(data, v)
}

// decodeJSON decodes one JSON document strictly into v and explains failures as problems.
// The document must first obey drift.CheckStrict: encoding/json would quietly keep the last
// of two equal keys, turn invalid UTF-8 into U+FFFD and decode numbers later stages cannot.
func decodeJSON(data []byte, v any) error {
	if err := drift.CheckStrict(data); err != nil {
		var se *drift.StrictError
		if errors.As(err, &se) && se.Path != "" {
			return badRequest("the body is not acceptable JSON: "+err.Error(), InvalidParam{Name: strings.TrimPrefix(se.Path, "/"), Reason: se.Reason})
		}
		return badRequest("the body is not valid JSON: " + err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		return badRequest("the body holds data after its JSON document")
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var when *time.ParseError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		return badRequest(fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", syntax, syntax.Offset))
	case errors.As(err, &typ):
		name := memberPath(reflect.TypeOf(v), typ.Field)
		if name == "" {
			name = "body"
		}
		return badRequest(fmt.Sprintf("%s: must be %s, not %s", name, describe(typ.Type), typ.Value),
			InvalidParam{Name: name, Reason: fmt.Sprintf("must be %s, not %s", describe(typ.Type), typ.Value)})
	case errors.As(err, &when):
		name := "body"
		if ts := timeFields(reflect.TypeOf(v)); len(ts) == 1 {
			name = ts[0]
		}
		reason := fmt.Sprintf("must be an RFC 3339 time, not %q", when.Value)
		return badRequest(name+": "+reason, InvalidParam{Name: name, Reason: reason})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(fmt.Sprintf("unknown field %q", name), InvalidParam{Name: name, Reason: "unknown field"})
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("the body is not valid JSON: it ends early")
	}
	return badRequest(fmt.Sprintf("the body could not be decoded: %v", err))
}
