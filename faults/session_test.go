package faults

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

func TestTCPResetMidFrameReconnectsWithoutAMalformedFrame(t *testing.T) {
	f := startFeed(t, feedOptions{})
	p := startProxy(t, f.addr)
	e := startExporter(t, exporterOptions{
		url: &url.URL{Scheme: "ws", Host: p.addr(), Path: protocol.PathDataTransmitter},
	})
	before := e.waitUp(t)

	s := e.scrapeDuring()
	cut := p.cutNext()
	select {
	case <-cut:
	case <-time.After(waitTimeout):
		t.Fatal("the proxy never saw a metric message to cut")
	}
	ended := time.Now()
	e.waitLog(t, "disconnected from the feed", "err=")
	after := e.checkRecovered(t, ended)
	s.check(t)

	if got, want := after.get("acqueon_exporter_reconnects_total"), before.get("acqueon_exporter_reconnects_total")+1; got < want {
		t.Errorf("reconnects_total %v, want at least %v", got, want)
	}
	// Half a frame is never handed over: nothing counts as malformed.
	if got := after.get("acqueon_exporter_message_errors_total", "reason", "malformed"); got != 0 {
		t.Errorf("message_errors_total{reason=malformed} %v after a cut frame, want 0", got)
	}
	checkHeap(t)
}

func TestCloseFramesEndTheSessionAndItComesBack(t *testing.T) {
	for _, code := range []int{1000, 1001, 1011, 4000} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f, e, before := connected(t, feedOptions{}, exporterOptions{})
			s := e.scrapeDuring()
			if n := f.sim.CloseAll(code, "fault suite"); n != 1 {
				t.Fatalf("closed %d sessions, want 1", n)
			}
			ended := time.Now()
			line := e.waitLog(t, "disconnected from the feed", fmt.Sprintf("close %d", code))
			t.Log(line)
			after := e.checkRecovered(t, ended)
			s.check(t)

			if got := after.get("acqueon_exporter_reconnects_total"); got != before.get("acqueon_exporter_reconnects_total")+1 {
				t.Errorf("reconnects_total %v after one close, want %v", got, before.get("acqueon_exporter_reconnects_total")+1)
			}
			sessions := f.sim.Sessions()
			if len(sessions) < 2 || sessions[1].Name == sessions[0].Name {
				t.Errorf("the new session does not have a new name: %+v", sessions)
			}
		})
	}
}

func TestHalfOpenSocketIsDetectedByPingsAndReplaced(t *testing.T) {
	f, e, before := connected(t, feedOptions{}, exporterOptions{})
	s := e.scrapeDuring()
	if n := f.sim.Stall(); n != 1 {
		t.Fatalf("stalled %d sessions, want 1", n)
	}
	stalled := time.Now()
	// Two ping intervals without a pong end the session.
	e.waitLog(t, "disconnected from the feed", "feed stalled")
	if took := time.Since(stalled); took > 2*pingInterval+recoveryBudget {
		t.Errorf("the stall was noticed after %s, want about %s", took, 2*pingInterval)
	}
	after := e.checkRecovered(t, stalled)
	s.check(t)
	if got := after.get("acqueon_exporter_reconnects_total"); got <= before.get("acqueon_exporter_reconnects_total") {
		t.Errorf("reconnects_total %v did not grow", got)
	}
	checkHeap(t)
}

func TestServerDownCountsUnreachableAndReconnectsWhenItIsBack(t *testing.T) {
	f, e, before := connected(t, feedOptions{}, exporterOptions{})
	s := e.scrapeDuring()
	f.down()

	down := e.waitMetrics(t, "connect failures counted as unreachable", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "unreachable") >= 3
	})
	if got := down.get("acqueon_up"); got != 0 {
		t.Errorf("acqueon_up %v while the server is down, want 0", got)
	}
	if down.get("acqueon_exporter_connection_state", "state", "connected") != 0 {
		t.Error("connection_state says connected while the server is down")
	}
	e.waitLog(t, "cannot connect to the feed", "reason=unreachable")

	f.up(t)
	back := time.Now()
	after := e.checkRecovered(t, back)
	s.check(t)
	if got := after.get("acqueon_exporter_reconnects_total"); got != before.get("acqueon_exporter_reconnects_total")+1 {
		t.Errorf("reconnects_total %v, want %v", got, before.get("acqueon_exporter_reconnects_total")+1)
	}
	checkHeap(t)
}

func TestHandshakeThatNeverCompletesTimesOut(t *testing.T) {
	f, e, _ := connected(t, feedOptions{}, exporterOptions{})
	s := e.scrapeDuring()
	f.sim.SetFaults(simulator.Faults{HoldUpgrade: true})
	f.sim.DropAll()

	e.waitMetrics(t, "a handshake timeout counted", waitTimeout, func(m metrics) bool {
		return m.get("acqueon_exporter_connect_failures_total", "reason", "timeout") >= 1 && m.get("acqueon_up") == 0
	})
	e.waitLog(t, "cannot connect to the feed", "reason=timeout")

	f.sim.SetFaults(simulator.Faults{})
	e.checkRecovered(t, time.Now())
	s.check(t)
}
