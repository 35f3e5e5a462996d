package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

// TestSessionRecordsKeepOnlyTheNewest proves that a server that sees many
// requests keeps a bounded history: the last SessionRecords of them.
func TestSessionRecordsKeepOnlyTheNewest(t *testing.T) {
	s, base := startServer(t, Config{SessionRecords: 3})
	httpBase := "http" + strings.TrimPrefix(base, "ws")
	for i := range 5 {
		name := fmt.Sprintf("PerformanceMetrics_%s_%d", serverTestUser, 1000+i)
		resp, err := http.Get(httpBase + protocol.PathDataTransmitter + "?name=" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := s.Sessions()
	if len(got) != 3 {
		t.Fatalf("kept %d records, want 3", len(got))
	}
	for i, rec := range got {
		if want := fmt.Sprintf("PerformanceMetrics_%s_%d", serverTestUser, 1002+i); rec.Name != want {
			t.Errorf("record %d is %q, want %q", i, rec.Name, want)
		}
	}
}

// TestDuplicateLoginIsStillRefusedWithinTheRecordLimit proves that the
// bound on remembered names leaves the duplicate-login check working for
// recent names.
func TestDuplicateLoginIsStillRefusedWithinTheRecordLimit(t *testing.T) {
	_, base := startServer(t, Config{SessionRecords: 2})
	name := fmt.Sprintf("PerformanceMetrics_%s_%d", serverTestUser, 2000)
	conn, _, err := dialFeed(t, base, protocol.PathDataTransmitter, name, serverTestPassword)
	if err != nil {
		t.Fatalf("first login: %v", err)
	}
	conn.Close()
	_, resp, err := dialFeed(t, base, protocol.PathDataTransmitter, name, serverTestPassword)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second login with the same name: err %v, response %v; want 403", err, resp)
	}
}
