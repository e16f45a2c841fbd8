package esdbfake

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Version is the server version the fake reports. Its subscriptions behave as this line's
// do: they send caught_up once the stored events are delivered.
const Version = "24.10.0"

// Server is an in-memory EventStoreDB node. It is safe for concurrent use.
type Server struct {
	grpc *grpc.Server

	mu   sync.Mutex
	addr string
}

// New returns a server with an empty database; Serve puts it to work.
func New() *Server {
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		// The client pings every 10 s, streams or not; gRPC's default policy would close
		// its connection for that, EventStoreDB does not.
		MinTime:             time.Second,
		PermitWithoutStream: true,
	}))
	streams.RegisterStreamsServer(g, &streamsServer{log: newEventLog()})
	serverfeatures.RegisterServerFeaturesServer(g, featuresServer{})
	return &Server{grpc: g}
}

// Start returns a server listening on a free port of 127.0.0.1, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("esdbfake: listen: %v", err)
	}
	s := New()
	s.setAddr(l.Addr())
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-served; err != nil {
			t.Errorf("esdbfake: serve: %v", err)
		}
	})
	return s
}

// Serve accepts connections on l until Stop; it returns nil after Stop.
func (s *Server) Serve(l net.Listener) error {
	s.setAddr(l.Addr())
	return s.grpc.Serve(l)
}

// Stop closes the listener and every connection at once, ending open subscriptions.
func (s *Server) Stop() { s.grpc.Stop() }

// URL is the connection string of the address the server listens on, without TLS, for a
// single node: "esdb://127.0.0.1:PORT?tls=false".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "esdb://" + s.addr + "?tls=false"
}

func (s *Server) setAddr(a net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addr = a.String()
}

// streamsServer serves the Streams service from one event log.
type streamsServer struct {
	streams.UnimplementedStreamsServer
	log *eventLog
}

// featuresServer answers the call the client makes on connect.
type featuresServer struct {
	serverfeatures.UnimplementedServerFeaturesServer
}

// GetSupportedMethods lists the version and the methods the fake implements, named as the
// server names them.
func (featuresServer) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	const streamsService = "event_store.client.streams.streams"
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: Version,
		Methods: []*serverfeatures.SupportedMethod{
			{ServiceName: streamsService, MethodName: "read"},
			{ServiceName: streamsService, MethodName: "append"},
			{ServiceName: "event_store.client.server_features.serverfeatures", MethodName: "getsupportedmethods"},
		},
	}, nil
}
