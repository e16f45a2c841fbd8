package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/zap"

	"github.com/driftwatch/driftwatch/handlers/notify"
	"github.com/driftwatch/driftwatch/handlers/notify/pagerduty"
	"github.com/driftwatch/driftwatch/handlers/notify/slack"
	"github.com/driftwatch/driftwatch/handlers/notify/smtp"
	"github.com/driftwatch/driftwatch/handlers/notify/webhook"
	"github.com/driftwatch/driftwatch/internal/testsupport/pagerdutyfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/slackfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/smtpfake"
	"github.com/driftwatch/driftwatch/internal/testsupport/webhookfake"
	"github.com/driftwatch/driftwatch/pipeline/bus/embedded"
	"github.com/driftwatch/driftwatch/pipeline/drift"
	"github.com/driftwatch/driftwatch/pipeline/event"
	"github.com/driftwatch/driftwatch/pipeline/eventstore"
	"github.com/driftwatch/driftwatch/pipeline/eventstore/bolt"
	"github.com/driftwatch/driftwatch/pipeline/fault"
	"github.com/driftwatch/driftwatch/pipeline/record"
	"github.com/driftwatch/driftwatch/pipeline/router"
	"github.com/driftwatch/driftwatch/pipeline/stdwebhook"
)

const (
	routingKey = "R0123456789abcdefABCDEF012345678"
	hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// services are the four fakes, each behind one receiver.
type services struct {
	mail  *smtpfake.Server
	slack *slackfake.Server
	pd    *pagerdutyfake.Server
	hook  *webhookfake.Server
}

func startServices(t *testing.T) services {
	t.Helper()
	return services{
		mail:  smtpfake.Start(t, smtpfake.Config{}),
		slack: slackfake.Start(t),
		pd:    pagerdutyfake.Start(t),
		hook:  webhookfake.Start(t, hookSecret),
	}
}

// routing sends every drift by mail and signed webhook, and high ones and above to Slack
// and PagerDuty as well.
func (s services) routing(t *testing.T) notify.Routing {
	t.Helper()
	mailer, err := smtp.New(smtp.Config{Addr: s.mail.Addr(), From: "Driftwatch <drift@example.com>", To: []string{"ops@example.com"}, Timeout: 5 * time.Second})
	must(t, err)
	sl, err := slack.New(slack.Config{WebhookURL: s.slack.URL(), Timeout: 5 * time.Second})
	must(t, err)
	pd, err := pagerduty.New(pagerduty.Config{RoutingKey: routingKey, URL: s.pd.URL(), Timeout: 5 * time.Second})
	must(t, err)
	hook, err := webhook.New(webhook.Config{URL: s.hook.URL(), Secrets: []string{hookSecret}, Timeout: 5 * time.Second})
	must(t, err)
	return notify.Routing{
		Receivers: []notify.Receiver{
			{Name: "ops-mail", Kind: notify.KindEmail, Sender: mailer},
			{Name: "ops-slack", Kind: notify.KindSlack, Sender: sl},
			{Name: "oncall", Kind: notify.KindPagerDuty, Sender: pd},
			{Name: "audit-hook", Kind: notify.KindWebhook, Sender: hook},
		},
		Routes: []notify.Route{
			{Receivers: []string{"ops-mail", "audit-hook"}},
			{Receivers: []string{"ops-slack", "oncall"}, MinSeverity: drift.SeverityHigh},
		},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// counted counts the successful handlings of each message by id.
type counted[In event.Fact] struct {
	stage router.Stage[In]
	mu    sync.Mutex
	n     map[string]int
}

func (c *counted[In]) Handle(ctx context.Context, in event.Message[In]) ([]event.Record, error) {
	out, err := c.stage.Handle(ctx, in)
	if err == nil {
		c.mu.Lock()
		c.n[in.ID]++
		c.mu.Unlock()
	}
	return out, err
}

func (c *counted[In]) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// rig runs the notify stage on the real embedded store and bus.
type rig struct {
	t        *testing.T
	dir      string
	store    eventstore.Store
	emitter  *record.Emitter
	routing  notify.Routing
	planning notify.Planning
	detected *counted[event.DriftDetected_v1]
	acked    *counted[event.DriftAcknowledged_v1]
	resolved *counted[event.DriftResolved_v1]
	escal    *counted[event.DriftEscalated_v1]
	runs     int
}

func newRig(t *testing.T, routing notify.Routing) *rig {
	t.Helper()
	return newPlanningRig(t, routing, nil)
}

// newPlanningRig is newRig with the planner's answers of planning.
func newPlanningRig(t *testing.T, routing notify.Routing, planning notify.Planning) *rig {
	t.Helper()
	dir := t.TempDir()
	store, err := bolt.Open(bolt.Config{Dir: filepath.Join(dir, "events")})
	must(t, err)
	t.Cleanup(func() { _ = store.Close() })
	r := &rig{t: t, dir: dir, store: store, routing: routing, planning: planning}
	r.start()
	return r
}

// start runs the stage over a bus with a fresh checkpoint: the first time, or again as after
// a crash that lost every acknowledgement, so that the whole store is delivered again.
func (r *rig) start() {
	t := r.t
	t.Helper()
	r.runs++
	b, err := embedded.Open(embedded.Config{Store: r.store, Path: filepath.Join(r.dir, fmt.Sprintf("bus-%d.db", r.runs))})
	must(t, err)
	em, err := record.NewEmitter(r.store, b.Publisher(), record.FromStore())
	must(t, err)
	r.emitter = em
	rt, err := router.New(router.Config{MaxRetries: 3, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond}, b, em, zap.NewNop())
	must(t, err)
	ss, err := notify.NewStages(notify.Config{Routing: r.routing, PublicURL: "https://driftwatch.example/"}, notify.Deps{Store: r.store, Planning: r.planning})
	must(t, err)
	if r.detected == nil {
		r.detected = &counted[event.DriftDetected_v1]{n: map[string]int{}}
		r.acked = &counted[event.DriftAcknowledged_v1]{n: map[string]int{}}
		r.resolved = &counted[event.DriftResolved_v1]{n: map[string]int{}}
		r.escal = &counted[event.DriftEscalated_v1]{n: map[string]int{}}
	}
	r.detected.stage, r.acked.stage, r.resolved.stage, r.escal.stage = ss.Detected, ss.Acknowledged, ss.Resolved, ss.Escalated
	must(t, router.Add(rt, notify.DetectedName, notify.DetectedTopic, router.Stage[event.DriftDetected_v1](r.detected)))
	must(t, router.Add(rt, notify.AcknowledgedName, notify.AcknowledgedTopic, router.Stage[event.DriftAcknowledged_v1](r.acked)))
	must(t, router.Add(rt, notify.ResolvedName, notify.ResolvedTopic, router.Stage[event.DriftResolved_v1](r.resolved)))
	must(t, router.Add(rt, notify.EscalatedName, notify.EscalatedTopic, router.Stage[event.DriftEscalated_v1](r.escal)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = rt.Close(); _ = b.Close() })
	<-rt.Running()
}

func (r *rig) emit(recs ...event.Record) {
	r.t.Helper()
	must(r.t, r.emitter.Emit(context.Background(), recs...))
}

// waitFor waits up to 10s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func detected(ci string, sev drift.Severity) event.Record {
	id := event.DeriveID("drift", ci, "/power_state")
	return event.Record{ID: id, Subject: ci, Time: time.Now(), Fact: event.DriftDetected_v1{
		DriftID: id, CIID: ci, CIType: "vm", PolicyID: "vm-power", ObservationID: "obs-1",
		Field: "/power_state", Desired: json.RawMessage(`"running"`), Actual: json.RawMessage(`"stopped"`),
		Patch:  json.RawMessage(`[{"op":"replace","path":"/power_state","value":"running"}]`),
		Detail: "--- desired\n+++ actual\n-running\n+stopped\n", Category: drift.CategoryState, Severity: sev,
		ActionType: drift.ActionNone, DetectedAt: time.Now().UTC(),
	}}
}

func acknowledged(d event.Record) event.Record {
	f := d.Fact.(event.DriftDetected_v1)
	return event.Record{ID: event.DeriveID("drift-acknowledged", f.DriftID), Subject: f.CIID, Time: time.Now(),
		Fact: event.DriftAcknowledged_v1{DriftID: f.DriftID, CIID: f.CIID, By: "alice", AcknowledgedAt: time.Now().UTC()}}
}

func resolved(d event.Record) event.Record {
	f := d.Fact.(event.DriftDetected_v1)
	return event.Record{ID: event.DeriveID("drift-resolved", f.DriftID), Subject: f.CIID, Time: time.Now(),
		Fact: event.DriftResolved_v1{DriftID: f.DriftID, CIID: f.CIID, Field: f.Field, ObservationID: "obs-2",
			Reason: "matches the desired state", ResolvedAt: time.Now().UTC()}}
}

// counts is what every fake received.
type counts struct{ mail, slack, pd, hook int }

func (s services) counts() counts {
	return counts{len(s.mail.Messages()), s.slack.Requests(), s.pd.Requests(), s.hook.Requests()}
}

func TestADriftOpeningIsToldOnceToEveryReceiver(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newRig(t, svc.routing(t))
	d := detected("web-01", drift.SeverityHigh)
	r.emit(d)
	waitFor(t, "the opening handled", func() bool { return r.detected.count(d.ID) == 1 })

	if got, want := svc.counts(), (counts{1, 1, 1, 1}); got != want {
		t.Fatalf("received %+v, want %+v (rejected: slack %v, pagerduty %v, webhook %v)", got, want,
			svc.slack.Rejected(), svc.pd.Rejected(), svc.hook.Rejected())
	}
	msg := svc.mail.Messages()[0]
	if msg.From != "drift@example.com" || len(msg.To) != 1 || msg.To[0] != "ops@example.com" {
		t.Errorf("mail envelope %s → %v", msg.From, msg.To)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	must(t, err)
	if subj := parsed.Header.Get("Subject"); subj == "" {
		t.Error("mail without a subject")
	}
	if got := svc.slack.Messages()[0].Text; !strings.Contains(got, "web-01") {
		t.Errorf("slack text %q does not name the CI", got)
	}
	dedup := pagerduty.DedupKey(d.Fact.(event.DriftDetected_v1).DriftID)
	if got := svc.pd.Alert(dedup); got != (pagerdutyfake.Alert{Status: pagerdutyfake.StatusTriggered, Alerts: 1, Triggers: 1}) {
		t.Errorf("pagerduty alert %+v, want one triggered", got)
	}
	hook := svc.hook.Deliveries()[0]
	key, _ := stdwebhook.ParseSecret(hookSecret)
	if err := stdwebhook.Verify([][]byte{key}, hook.Header, hook.Body, time.Now()); err != nil {
		t.Errorf("webhook signature: %v", err)
	}
	var ce struct {
		Type string `json:"type"`
		Data struct {
			DriftID string `json:"drift_id"`
			URL     string `json:"url"`
		} `json:"data"`
	}
	must(t, json.Unmarshal(hook.Body, &ce))
	driftID := d.Fact.(event.DriftDetected_v1).DriftID
	if ce.Type != webhook.Type(notify.EventOpened) || ce.Data.DriftID != driftID || ce.Data.URL != "https://driftwatch.example/drift/events/"+driftID {
		t.Errorf("webhook event %+v", ce)
	}
	if hook.ID != event.NotificationKey(driftID, "opened", "audit-hook") {
		t.Errorf("webhook-id %q is not the notification's key", hook.ID)
	}
	if got := sentRecords(t, r.store, driftID); len(got) != 4 {
		t.Errorf("recorded %v, want one sent notification per receiver", got)
	}
}

func TestTheSameFactDeliveredThreeTimesIsToldOnce(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newRig(t, svc.routing(t))
	d := detected("web-02", drift.SeverityCritical)
	r.emit(d)
	waitFor(t, "the first delivery handled", func() bool { return r.detected.count(d.ID) == 1 })
	for i := 2; i <= 3; i++ {
		r.start() // a fresh checkpoint: the store's facts are delivered again
		waitFor(t, fmt.Sprintf("delivery %d handled", i), func() bool { return r.detected.count(d.ID) == i })
	}
	if got, want := svc.counts(), (counts{1, 1, 1, 1}); got != want {
		t.Fatalf("after three deliveries received %+v, want %+v", got, want)
	}
}

func TestARetryAfterOneReceiverFailedSendsToThatOneOnly(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	svc.slack.FailNext(slackfake.Response{Status: 500, Body: "internal_error"})
	r := newRig(t, svc.routing(t))
	d := detected("web-03", drift.SeverityHigh)
	r.emit(d)
	waitFor(t, "the opening handled", func() bool { return r.detected.count(d.ID) == 1 })
	if got, want := svc.counts(), (counts{1, 2, 1, 1}); got != want {
		t.Fatalf("received %+v, want %+v: Slack twice (a 500, then the retry), the others once", got, want)
	}
	if n := len(svc.slack.Messages()); n != 1 {
		t.Errorf("slack shows %d messages, want 1", n)
	}
}

func TestAcknowledgeAndResolveFollowTheOpening(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newRig(t, svc.routing(t))
	d := detected("web-04", drift.SeverityHigh)
	driftID := d.Fact.(event.DriftDetected_v1).DriftID
	dedup := pagerduty.DedupKey(driftID)
	r.emit(d)
	waitFor(t, "the opening handled", func() bool { return r.detected.count(d.ID) == 1 })

	ack := acknowledged(d)
	r.emit(ack)
	waitFor(t, "the acknowledgement handled", func() bool { return r.acked.count(ack.ID) == 1 })
	if got := svc.pd.Alert(dedup); got != (pagerdutyfake.Alert{Status: pagerdutyfake.StatusAcknowledged, Alerts: 1, Triggers: 1, Acknowledges: 1}) {
		t.Errorf("after the acknowledgement the alert is %+v", got)
	}
	if got := svc.pd.Events()[1]; got.EventAction != "acknowledge" || got.DedupKey != dedup {
		t.Errorf("second event %s %s", got.EventAction, got.DedupKey)
	}

	res := resolved(d)
	r.emit(res)
	waitFor(t, "the resolution handled", func() bool { return r.resolved.count(res.ID) == 1 })
	if got := svc.pd.Alert(dedup); got != (pagerdutyfake.Alert{Status: pagerdutyfake.StatusResolved, Alerts: 1, Triggers: 1, Acknowledges: 1, Resolves: 1}) {
		t.Errorf("after the resolution the alert is %+v", got)
	}
	if got, want := svc.counts(), (counts{3, 3, 3, 3}); got != want {
		t.Fatalf("received %+v, want %+v: opened, acknowledged, resolved to each", got, want)
	}
	last := svc.slack.Messages()[2].Text
	if !strings.Contains(strings.ToLower(last), "resolved") {
		t.Errorf("slack's last message %q is not a resolution", last)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(svc.mail.Messages()[2].Data))
	must(t, err)
	if subj := parsed.Header.Get("Subject"); !strings.Contains(strings.ToLower(subj), "resolved") {
		t.Errorf("the last mail's subject %q is not a resolution", subj)
	}
	var ce struct {
		Type string `json:"type"`
	}
	must(t, json.Unmarshal(svc.hook.Deliveries()[2].Body, &ce))
	if ce.Type != webhook.Type(notify.EventResolved) {
		t.Errorf("the last webhook is %s", ce.Type)
	}

	// Everything delivered again sends nothing more.
	r.start()
	waitFor(t, "the resolution delivered again", func() bool {
		return r.resolved.count(res.ID) == 2 && r.acked.count(ack.ID) == 2 && r.detected.count(d.ID) == 2
	})
	if got, want := svc.counts(), (counts{3, 3, 3, 3}); got != want {
		t.Fatalf("after a redelivery received %+v, want %+v", got, want)
	}
}

func TestALowDriftReachesOnlyTheReceiversThatTakeLow(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newRig(t, svc.routing(t))
	d := detected("web-05", drift.SeverityLow)
	r.emit(d)
	waitFor(t, "the opening handled", func() bool { return r.detected.count(d.ID) == 1 })
	res := resolved(d)
	r.emit(res)
	waitFor(t, "the resolution handled", func() bool { return r.resolved.count(res.ID) == 1 })
	if got, want := svc.counts(), (counts{2, 0, 0, 2}); got != want {
		t.Fatalf("received %+v, want %+v: mail and webhook only", got, want)
	}
}

func TestAResolutionBeforeTheOpeningWasToldTellsNeither(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	routing := svc.routing(t)
	st, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ss, err := notify.NewStages(notify.Config{Routing: routing}, notify.Deps{Store: st})
	must(t, err)
	d := detected("web-06", drift.SeverityHigh)
	res := resolved(d)
	em, err := record.NewEmitter(st, noPublisher{})
	must(t, err)
	must(t, em.Emit(context.Background(), d, res))
	ctx := context.Background()
	if _, err := ss.Resolved.Handle(ctx, typed[event.DriftResolved_v1](res)); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Detected.Handle(ctx, typed[event.DriftDetected_v1](d)); err != nil {
		t.Fatal(err)
	}
	if got := svc.counts(); got != (counts{}) {
		t.Fatalf("received %+v, want nothing: no page for a drift already resolved", got)
	}
	if got := sentRecords(t, st, d.Fact.(event.DriftDetected_v1).DriftID); len(got) != 8 {
		t.Errorf("recorded %v, want the opening and the resolution skipped for each receiver", got)
	}
}

func TestConcurrentDeliveriesOfOneFactSendOnce(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	st, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ss, err := notify.NewStages(notify.Config{Routing: svc.routing(t)}, notify.Deps{Store: st})
	must(t, err)
	d := detected("web-07", drift.SeverityHigh)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			_, err := ss.Detected.Handle(context.Background(), typed[event.DriftDetected_v1](d))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if got, want := svc.counts(), (counts{1, 1, 1, 1}); got != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
}

func typed[F event.Fact](r event.Record) event.Message[F] {
	return event.Message[F]{ID: r.ID, Subject: r.Subject, Time: r.Time, Fact: r.Fact.(F)}
}

// sentRecords lists the drift's notification records as "event receiver outcome".
func sentRecords(t *testing.T, st eventstore.Store, driftID string) []string {
	t.Helper()
	recs, err := st.ReadStream(context.Background(), event.NotificationStreamPrefix+driftID, 0, 100)
	must(t, err)
	var out []string
	for _, r := range recs {
		env, err := event.FromStore(r)
		must(t, err)
		m, err := event.Decode[event.NotificationSent_v1](env)
		must(t, err)
		out = append(out, m.Fact.Event+" "+m.Fact.Receiver+" "+m.Fact.Outcome)
	}
	return out
}

// noPublisher drops what it is given: the unit tests call the stages themselves.
type noPublisher struct{}

func (noPublisher) Publish(string, ...*message.Message) error { return nil }
func (noPublisher) Close() error                              { return nil }

func TestAPermanentRefusalIsRecordedAndNotTriedAgain(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	svc.pd.FailNext(pagerdutyfake.Response{Status: 400, Body: `{"status":"invalid event","message":"Event object is invalid","errors":["bad"]}`})
	st, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ss, err := notify.NewStages(notify.Config{Routing: svc.routing(t)}, notify.Deps{Store: st})
	must(t, err)
	d := detected("web-08", drift.SeverityHigh)
	_, err = ss.Detected.Handle(context.Background(), typed[event.DriftDetected_v1](d))
	if err == nil || !fault.IsPermanent(err) || !strings.Contains(err.Error(), "oncall") {
		t.Fatalf("error %v, want a permanent one naming the receiver", err)
	}
	if _, err := ss.Detected.Handle(context.Background(), typed[event.DriftDetected_v1](d)); err != nil {
		t.Fatalf("delivered again: %v", err)
	}
	if got, want := svc.counts(), (counts{1, 1, 1, 1}); got != want {
		t.Fatalf("received %+v, want %+v: PagerDuty refused once and was not asked again", got, want)
	}
	got := sentRecords(t, st, d.Fact.(event.DriftDetected_v1).DriftID)
	if !slices.Contains(got, "opened oncall failed") || !slices.Contains(got, "opened ops-mail sent") {
		t.Errorf("recorded %v", got)
	}
}

func TestFactsOlderThanMaxAgeAreNotTold(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	st, err := bolt.Open(bolt.Config{Dir: t.TempDir()})
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	ss, err := notify.NewStages(notify.Config{Routing: svc.routing(t), MaxAge: time.Hour}, notify.Deps{Store: st, Now: later})
	must(t, err)
	d := detected("web-09", drift.SeverityHigh)
	if _, err := ss.Detected.Handle(context.Background(), typed[event.DriftDetected_v1](d)); err != nil {
		t.Fatal(err)
	}
	if got := svc.counts(); got != (counts{}) {
		t.Fatalf("received %+v for a fact two hours old, want nothing", got)
	}
}

func escalated(d event.Record, attempts int) event.Record {
	f := d.Fact.(event.DriftDetected_v1)
	return event.Record{ID: event.DeriveID("drift-escalated", f.DriftID), Subject: f.CIID, Time: time.Now(),
		Fact: event.DriftEscalated_v1{DriftID: f.DriftID, CIID: f.CIID, Field: f.Field, Attempts: attempts,
			Reason: "still drifted after its remediation", EscalatedAt: time.Now().UTC()}}
}

// TestAnEscalationTriggersPagerDutyOnceWhateverTheAttempts: the escalation after three failed
// remediation attempts is one more trigger of the drift's alert (its dedup_key), and the
// escalation delivered again sends nothing more.
func TestAnEscalationTriggersPagerDutyOnceWhateverTheAttempts(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newRig(t, svc.routing(t))
	d := detected("web-09", drift.SeverityHigh)
	dedup := pagerduty.DedupKey(d.Fact.(event.DriftDetected_v1).DriftID)
	r.emit(d)
	waitFor(t, "the opening handled", func() bool { return r.detected.count(d.ID) == 1 })
	e := escalated(d, 3)
	r.emit(e)
	waitFor(t, "the escalation handled", func() bool { return r.escal.count(e.ID) == 1 })
	if got := svc.pd.Alert(dedup); got.Triggers != 2 || got.Alerts != 1 {
		t.Fatalf("after the escalation the alert is %+v, want one alert triggered twice (opening, escalation)", got)
	}
	if got := svc.pd.Events()[1]; got.EventAction != "trigger" || got.DedupKey != dedup {
		t.Errorf("second event %s %s, want a trigger under the drift's dedup_key", got.EventAction, got.DedupKey)
	}
	r.start()
	waitFor(t, "the escalation delivered again", func() bool { return r.escal.count(e.ID) == 2 })
	if got := svc.pd.Alert(dedup); got.Triggers != 2 {
		t.Fatalf("after a redelivery the alert was triggered %d times, want 2", got.Triggers)
	}
}

// changeOn is what the action planner says of drifts: those of one CI are part of a change.
type changeOn struct{ ci, change string }

func (c changeOn) PlannedChange(_ context.Context, d event.DriftDetected_v1) (string, error) {
	if d.CIID == c.ci {
		return c.change, nil
	}
	return "", nil
}

func TestAPlannedDriftNeverPages(t *testing.T) {
	t.Parallel()
	svc := startServices(t)
	r := newPlanningRig(t, svc.routing(t), changeOn{ci: "web-10", change: "CHG0030042"})
	planned, unplanned := detected("web-10", drift.SeverityCritical), detected("web-11", drift.SeverityCritical)
	r.emit(planned, unplanned)
	waitFor(t, "the openings handled", func() bool { return r.detected.count(planned.ID) >= 1 && r.detected.count(unplanned.ID) >= 1 })
	res := resolved(planned)
	r.emit(res)
	waitFor(t, "the resolution handled", func() bool { return r.resolved.count(res.ID) >= 1 })

	if got := svc.pd.Alert(pagerduty.DedupKey(planned.Fact.(event.DriftDetected_v1).DriftID)); got.Alerts != 0 || got.Resolves != 0 {
		t.Errorf("PagerDuty heard of the planned drift: %+v", got)
	}
	if got := svc.pd.Alert(pagerduty.DedupKey(unplanned.Fact.(event.DriftDetected_v1).DriftID)); got.Triggers != 1 {
		t.Errorf("the unplanned drift's alert is %+v, want one trigger", got)
	}
	// The others are told, and are told it is planned.
	if got, want := svc.counts(), (counts{mail: 3, slack: 3, pd: 1, hook: 3}); got != want {
		t.Fatalf("received %+v, want %+v", got, want)
	}
	var told bool
	for _, m := range svc.slack.Messages() {
		if strings.Contains(m.Text, "web-10") && strings.Contains(m.Text, "planned: CHG0030042") {
			told = true
		}
	}
	if !told {
		t.Errorf("no Slack message says the drift is planned under CHG0030042")
	}
}
