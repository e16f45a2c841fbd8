package servicenowfake

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const apiPrefix = "/api/now/table/"

// serveTable routes a Table API request.
func (s *Server) serveTable(w http.ResponseWriter, r *http.Request, body []byte) {
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	table, sysID, _ := strings.Cut(rest, "/")
	sch, known := schemas[table]
	if !ok || !known || strings.Contains(sysID, "/") {
		writeError(w, http.StatusBadRequest, "Invalid table "+table, "servicenowfake serves "+TableChangeRequest+", "+TableIncident+" and "+JournalTable)
		return
	}
	q := r.URL.Query()
	if v := q.Get("sysparm_display_value"); v != "" && v != "false" {
		writeError(w, http.StatusBadRequest, "Invalid sysparm_display_value", "servicenowfake implements sysparm_display_value=false only")
		return
	}
	fields, err := readFields(sch, table, q.Get("sysparm_fields"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid sysparm_fields", err.Error())
		return
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut
	switch {
	case write && sch.readOnly:
		writeError(w, http.StatusForbidden, "Operation Failed", "ACL Exception Insert Failed due to security constraints")
	case r.Method == http.MethodGet && sysID == "":
		s.list(w, sch, table, q, fields)
	case r.Method == http.MethodGet:
		s.get(w, table, sysID, fields)
	case r.Method == http.MethodPost && sysID == "":
		s.create(w, r, sch, table, body, fields)
	case (r.Method == http.MethodPatch || r.Method == http.MethodPut) && sysID != "":
		s.update(w, r, sch, table, sysID, body, fields)
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method not Supported", r.Method+" "+r.URL.Path+" is not supported")
	}
}

func readFields(sch schema, table, list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if !sch.readable(f) {
			return nil, fmt.Errorf("%q is not a field of %s", f, table)
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *Server) list(w http.ResponseWriter, sch schema, table string, q url.Values, fields []string) {
	limit, offset := 10000, 0
	for name, dst := range map[string]*int{"sysparm_limit": &limit, "sysparm_offset": &offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, "Invalid "+name, fmt.Sprintf("%q is not a non-negative integer", v))
				return
			}
			*dst = n
		}
	}
	cond, err := parseQuery(sch, q.Get("sysparm_query"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid query", err.Error())
		return
	}
	s.mu.Lock()
	var out []map[string]string
	skipped := 0
	for _, r := range s.records[table] {
		if len(out) == limit {
			break
		}
		if !cond.matches(r) {
			continue
		}
		if skipped < offset {
			skipped++
			continue
		}
		out = append(out, project(r, fields))
	}
	s.mu.Unlock()
	if out == nil {
		out = []map[string]string{}
	}
	writeResult(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, table, sysID string, fields []string) {
	s.mu.Lock()
	r := s.find(table, sysID)
	var out map[string]string
	if r != nil {
		out = project(r, fields)
	}
	s.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
		return
	}
	writeResult(w, http.StatusOK, out)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, sch schema, table string, body []byte, fields []string) {
	in, ok := decodeFields(w, r, sch, table, body)
	if !ok {
		return
	}
	now := stamp()
	rec := map[string]string{}
	for name := range sch.columns {
		rec[name] = ""
	}
	rec["state"], rec["urgency"], rec["impact"] = sch.newState, "3", "3"
	if _, ok := sch.columns["approval"]; ok {
		rec["approval"] = "not requested"
	}
	notes := in["work_notes"]
	delete(in, "work_notes")
	maps.Copy(rec, in)
	sch.derive(rec)
	if err := sch.checkRecord(rec); err != nil {
		writeError(w, http.StatusBadRequest, "Operation Failed", err.Error())
		return
	}
	s.mu.Lock()
	rec["sys_id"] = newSysID()
	s.counters[table]++
	rec["number"] = fmt.Sprintf("%s%07d", sch.prefix, sch.first+s.counters[table]-1)
	rec["sys_created_on"], rec["sys_updated_on"] = now, now
	s.records[table] = append(s.records[table], rec)
	s.journal(table, rec["sys_id"], notes, now)
	out := project(rec, fields)
	s.mu.Unlock()
	w.Header().Set("Location", "http://"+r.Host+apiPrefix+table+"/"+rec["sys_id"])
	writeResult(w, http.StatusCreated, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, sch schema, table, sysID string, body []byte, fields []string) {
	in, ok := decodeFields(w, r, sch, table, body)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(table, sysID)
	if rec == nil {
		writeError(w, http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
		return
	}
	notes := in["work_notes"]
	delete(in, "work_notes")
	next := maps.Clone(rec)
	maps.Copy(next, in)
	sch.derive(next)
	if err := sch.checkRecord(next); err != nil {
		writeError(w, http.StatusBadRequest, "Operation Failed", err.Error())
		return
	}
	now := stamp()
	next["sys_updated_on"] = now
	maps.Copy(rec, next)
	s.journal(table, sysID, notes, now)
	writeResult(w, http.StatusOK, project(rec, fields))
}

// journal appends a work note; s.mu is held.
func (s *Server) journal(table, sysID, value, now string) {
	if value == "" {
		return
	}
	s.records[JournalTable] = append(s.records[JournalTable], map[string]string{
		"sys_id": newSysID(), "element_id": sysID, "element": "work_notes", "name": table,
		"value": value, "sys_created_on": now, "sys_created_by": s.cfg.Username,
	})
}

// find returns the record of table with sysID; s.mu is held.
func (s *Server) find(table, sysID string) map[string]string {
	for _, r := range s.records[table] {
		if r["sys_id"] == sysID {
			return r
		}
	}
	return nil
}

// decodeFields reads a write's body: a JSON object of strings, numbers or booleans, of
// fields the table lets clients write.
func decodeFields(w http.ResponseWriter, r *http.Request, sch schema, table string, body []byte) (map[string]string, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported Media Type", "Content-Type "+ct+" is not application/json")
		return nil, false
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		writeError(w, http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
		return nil, false
	}
	in := make(map[string]string, len(raw))
	for name, v := range raw {
		var val any
		_ = json.Unmarshal(v, &val)
		switch x := val.(type) {
		case string:
			in[name] = x
		case float64, bool:
			in[name] = strings.TrimSpace(string(v))
		default:
			writeError(w, http.StatusBadRequest, "Invalid value", fmt.Sprintf("%s: %s is not a string, number or boolean", name, v))
			return nil, false
		}
	}
	if err := sch.checkWrite(table, in); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid field or value", err.Error())
		return nil, false
	}
	return in, true
}

// project returns the fields asked for (all but work_notes' journal when none), with
// work_notes reading "" as a journal field does.
func project(r map[string]string, fields []string) map[string]string {
	if fields == nil {
		out := maps.Clone(r)
		if _, ok := out["work_notes"]; ok {
			out["work_notes"] = ""
		}
		return out
	}
	out := make(map[string]string, len(fields))
	for _, f := range fields {
		out[f] = value(r, f)
	}
	if _, ok := out["work_notes"]; ok {
		out["work_notes"] = ""
	}
	return out
}

func writeResult(w http.ResponseWriter, status int, result any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{"result": result})
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeError(w http.ResponseWriter, status int, message, detail string) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{
		"error":  map[string]string{"message": message, "detail": detail},
		"status": "failure",
	})
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func statusMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "User Not Authenticated"
	case http.StatusForbidden:
		return "Operation Failed"
	case http.StatusNotFound:
		return "No Record found"
	case http.StatusTooManyRequests:
		return "Rate limit exceeded"
	}
	return http.StatusText(status)
}

func newSysID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func stamp() string { return time.Now().UTC().Format(time.DateTime) }
