package collector

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/acqueon-exporter/acqueon_exporter/internal/testkit"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the arrival time of the first message in most tests.
var t0 = time.Date(2025, 12, 3, 14, 4, 5, 0, time.UTC)

type clock = testkit.Clock

func newClock(t time.Time) *clock { return testkit.NewClock(t) }

// newCollector returns a collector on the default mapping (unless opts
// has one) with its clock at t0.
func newCollector(t *testing.T, opts Options) (*Collector, *clock) {
	t.Helper()
	clk := newClock(t0)
	opts.Now = clk.Now
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, clk
}

// stringFrame returns a metric message whose Data is double encoded, as
// the feed sends it.
func stringFrame(messageType, data string) []byte {
	return protocol.Encode("Server", "PerformanceMetrics_test_1", messageType, data)
}

// objectFrame returns a metric message whose Data is a plain JSON value.
func objectFrame(messageType, data string) []byte {
	frame, err := json.Marshal(protocol.Envelope{
		Sender:      " Server",
		Receiver:    "PerformanceMetrics_test_1",
		MessageType: messageType,
		Data:        json.RawMessage(data),
	})
	if err != nil {
		panic(err)
	}
	return frame
}

func metricsFrame(data string) []byte { return stringFrame("AEPerformanceMetrics", data) }

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compareGolden checks the collector's exposition (only the named metrics
// when any are given) against testdata/golden; with -update it rewrites
// the file instead.
func compareGolden(t *testing.T, c *Collector, golden string, metricNames ...string) {
	t.Helper()
	path := filepath.Join("testdata", golden)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(exposition(t, c, metricNames...)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, bytes.NewReader(want), metricNames...); err != nil {
		t.Errorf("%s: %v", golden, err)
	}
}

// exposition returns the text exposition of the named metrics, or of all,
// as a pedantic registry gathers them.
func exposition(t *testing.T, c *Collector, metricNames ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("register: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var text bytes.Buffer
	for _, mf := range families {
		if len(metricNames) > 0 && !slices.Contains(metricNames, mf.GetName()) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatalf("format: %v", err)
		}
	}
	return text.String()
}
