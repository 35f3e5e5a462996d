package collector

// Benchmarks of ingest and scrape. Each measures a baseline in the same
// run, interleaved with the subject iteration by iteration, and reports
// the ratio of the two ("x-baseline"), which holds on any machine; ns/op
// is the subject's own time. Run them with
//
//	go test -run='^$' -bench=. -benchmem -count=10 ./collector/ | tee new.txt
//	benchstat new.txt
//
// Fixtures are built inside the benchmarks, so plain `go test` builds none.

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/acqueon-exporter/acqueon_exporter/protocol"
	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// tenantSize is the size of a simulated contact center.
type tenantSize struct{ campaigns, queues, agents int }

// largeTenant is the large deployment the exporter is sized for: about
// 42,000 vendor series.
var largeTenant = tenantSize{campaigns: 1000, queues: 500, agents: 5000}

func (s tenantSize) entities() int { return s.campaigns + s.queues + s.agents }

// scaled returns the size of a tenant with about n vendor series, in the
// proportions of the large tenant.
func scaled(n int) tenantSize {
	k := max(1, (n+21)/42)
	return tenantSize{campaigns: k, queues: max(1, k/2), agents: 5 * k}
}

// tenantFrames returns n consecutive metric frames of a simulated tenant,
// one second apart, as the feed sends them (Data double encoded).
func tenantFrames(size tenantSize, n int) [][]byte {
	tenant := simulator.NewTenant(simulator.TenantConfig{
		CampaignGroups: max(1, size.campaigns/10),
		Campaigns:      size.campaigns,
		Queues:         size.queues,
		Agents:         size.agents,
		Seed:           1,
	}, t0)
	frames := make([][]byte, n)
	for i := range frames {
		data := tenant.Payload(t0.Add(time.Duration(i)*time.Second), 0)
		frames[i] = protocol.Encode("Server", "PerformanceMetrics_bench_1", simulator.MessageTypeMetrics, string(data))
	}
	return frames
}

// baselineDecode is what a generic exporter does with a frame: decode the
// envelope with encoding/json into any, then the JSON string in Data
// into any. It builds no metrics.
func baselineDecode(frame []byte) any {
	var env map[string]any
	if err := json.Unmarshal(frame, &env); err != nil {
		panic(err)
	}
	var data any
	if err := json.Unmarshal([]byte(env["Data"].(string)), &data); err != nil {
		panic(err)
	}
	return data
}

// pair runs subject and baseline alternately once per iteration, so that
// both see the same machine load, and reports subject's time per op and
// its ratio to baseline's.
func pair(b *testing.B, baseline, subject func()) {
	b.Helper()
	var base, subj time.Duration
	for b.Loop() {
		start := time.Now()
		baseline()
		mid := time.Now()
		subject()
		subj += time.Since(mid)
		base += mid.Sub(start)
	}
	b.ReportMetric(float64(subj.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "baseline-ns/op")
	b.ReportMetric(float64(subj)/float64(base), "x-baseline")
}

func newBenchCollector(b *testing.B) *Collector {
	b.Helper()
	c, err := New(Options{Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkIngest measures HandleFrame on a frame of one campaign, one
// queue and one agent, and on the large tenant's, against decoding the
// same frame into any with encoding/json (envelope and the JSON string
// in Data, nothing built). Two frames of the tenant, a second apart,
// alternate, so every message changes the values.
func BenchmarkIngest(b *testing.B) {
	for _, tc := range []struct {
		name string
		size tenantSize
	}{
		{"frame=small", tenantSize{1, 1, 1}},
		{"frame=large", largeTenant},
	} {
		b.Run(tc.name, func(b *testing.B) {
			frames := tenantFrames(tc.size, 2)
			c := newBenchCollector(b)
			i := 0
			pair(b, func() { baselineDecode(frames[i%2]) }, func() {
				c.HandleFrame(frames[i%2], t0)
				i++
			})
			b.ReportMetric(float64(len(frames[0])), "frame-bytes")
		})
	}
}

// BenchmarkIngestDecoders compares what ingest is built on with the
// standard decoder: scanning a large frame's envelope and unquoting its
// Data (readEnvelope), against json.Unmarshal of the envelope into
// protocol.Envelope and Envelope.Payload.
func BenchmarkIngestDecoders(b *testing.B) {
	frame := tenantFrames(largeTenant, 1)[0]
	c := newBenchCollector(b)
	pair(b, func() {
		env, err := protocol.DecodeEnvelope(frame)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Payload(); err != nil {
			b.Fatal(err)
		}
	}, func() {
		if _, _, err := c.readEnvelope(frame); err != nil {
			b.Fatal(err)
		}
	})
}

// discardResponse is an http.ResponseWriter that keeps nothing.
type discardResponse struct {
	header http.Header
	n      int
}

func (w *discardResponse) Header() http.Header { return w.header }

func (w *discardResponse) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

func (w *discardResponse) WriteHeader(int) {}

// scrapeFormats are the formats of BenchmarkScrape, as the Accept header
// a scraper sends.
var scrapeFormats = []struct {
	name   string
	accept string
}{
	{"text", "text/plain;version=0.0.4"},
	{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
}

// wirings are the two ways to serve the collector: main.go's registry
// holding it, and the collector's Gatherer over a registry without it.
var wirings = []struct {
	name    string
	handler func(c *Collector) http.Handler
}{
	{"gatherer", func(c *Collector) http.Handler {
		return promhttp.HandlerForTransactional(c.Gatherer(processRegistry()), promhttp.HandlerOpts{})
	}},
	{"registry", func(c *Collector) http.Handler {
		reg := processRegistry()
		reg.MustRegister(c)
		return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}},
}

// processRegistry holds what main.go registers besides the collector.
func processRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return reg
}

// encoder writes families in one format, gzipped or not, as promhttp
// does, to a discarding writer.
type encoder struct {
	format expfmt.Format
	gz     *gzip.Writer
}

func (e *encoder) encode(families []*dto.MetricFamily) {
	var w io.Writer = io.Discard
	if e.gz != nil {
		e.gz.Reset(io.Discard)
		w = e.gz
	}
	enc := expfmt.NewEncoder(w, e.format)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			panic(err)
		}
	}
	if e.gz != nil {
		e.gz.Close()
	}
}

// BenchmarkScrape measures a scrape of /metrics through promhttp's
// handler, with 10,000 and 100,000 vendor series, text and protobuf,
// gzip on and off, in both wirings, against encoding the same families
// (gathered beforehand from the same handler's gatherer) with expfmt,
// gzipped the same way.
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		var frame []byte
		for _, w := range wirings {
			for _, f := range scrapeFormats {
				for _, gz := range []bool{false, true} {
					name := fmt.Sprintf("series=%dk/wiring=%s/format=%s/gzip=%t", n/1000, w.name, f.name, gz)
					b.Run(name, func(b *testing.B) {
						if frame == nil {
							frame = tenantFrames(scaled(n), 1)[0]
						}
						benchScrape(b, frame, w.handler, f.accept, gz)
					})
				}
			}
		}
	}
}

func benchScrape(b *testing.B, frame []byte, handler func(*Collector) http.Handler, accept string, gz bool) {
	c := newBenchCollector(b)
	c.HandleFrame(frame, t0)
	h := handler(c)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	families, done, err := c.Gatherer(processRegistry()).Gather()
	if err != nil {
		b.Fatal(err)
	}
	defer done()
	// The format the handler negotiates, escaping scheme included.
	enc := &encoder{format: expfmt.Negotiate(req.Header)}
	if gz {
		enc.gz = gzip.NewWriter(io.Discard)
	}
	w := &discardResponse{header: http.Header{}}
	pair(b, func() { enc.encode(families) }, func() {
		w.n = 0
		h.ServeHTTP(w, req)
	})
	b.ReportMetric(float64(c.collectVendor(make(chan prometheus.Metric, 1<<20))), "series")
	b.ReportMetric(float64(w.n), "response-bytes")
}

// BenchmarkScrapeUnderIngest scrapes the large tenant through the
// Gatherer while ingest runs flat out on another goroutine, and in turns
// of 8 scrapes while it idles, and reports the median and 99th percentile
// latency of both and their ratios.
func BenchmarkScrapeUnderIngest(b *testing.B) {
	for _, f := range scrapeFormats {
		b.Run("format="+f.name, func(b *testing.B) { benchScrapeUnderIngest(b, f.accept) })
	}
}

func benchScrapeUnderIngest(b *testing.B, accept string) {
	frames := tenantFrames(largeTenant, 2)
	c := newBenchCollector(b)
	c.HandleFrame(frames[0], t0)
	h := promhttp.HandlerForTransactional(c.Gatherer(processRegistry()), promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	w := &discardResponse{header: http.Header{}}

	var busy atomic.Bool
	var ingested atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if !busy.Load() {
				runtime.Gosched()
				continue
			}
			c.HandleFrame(frames[i%2], t0)
			ingested.Add(1)
		}
	})

	var idle, loaded []time.Duration
	for b.Loop() {
		n := len(idle) + len(loaded)
		underLoad := n/8%2 == 1
		busy.Store(underLoad)
		start := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(start)
		if underLoad {
			loaded = append(loaded, d)
		} else {
			idle = append(idle, d)
		}
	}
	close(stop)
	wg.Wait()
	if len(loaded) == 0 {
		return
	}
	slices.Sort(idle)
	slices.Sort(loaded)
	quantile := func(d []time.Duration, q float64) float64 { return float64(d[int(q*float64(len(d)-1))]) }
	b.ReportMetric(quantile(idle, 0.5), "idle-p50-ns")
	b.ReportMetric(quantile(idle, 0.99), "idle-p99-ns")
	b.ReportMetric(quantile(loaded, 0.5), "loaded-p50-ns")
	b.ReportMetric(quantile(loaded, 0.99), "loaded-p99-ns")
	b.ReportMetric(quantile(loaded, 0.5)/quantile(idle, 0.5), "x-idle-p50")
	b.ReportMetric(quantile(loaded, 0.99)/quantile(idle, 0.99), "x-idle-p99")
	b.ReportMetric(float64(ingested.Load())/float64(len(loaded)), "ingests/scrape")
}

// growth is the tenant sizes for the allocation benchmarks: 1x, 10x and
// 100x, the last the large tenant.
var growth = []struct {
	name string
	size tenantSize
}{
	{"tenant=1x", tenantSize{10, 5, 50}},
	{"tenant=10x", tenantSize{100, 50, 500}},
	{"tenant=100x", largeTenant},
}

// mallocs returns the heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// allocated returns the bytes allocated on the heap so far.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// BenchmarkIngestAllocs reports allocations per ingested entity as the
// tenant grows; they stay flat.
func BenchmarkIngestAllocs(b *testing.B) {
	for _, g := range growth {
		b.Run(g.name, func(b *testing.B) {
			frames := tenantFrames(g.size, 2)
			c := newBenchCollector(b)
			// Steady state: the label caches know the tenant's values.
			for _, frame := range append(frames, frames...) {
				c.HandleFrame(frame, t0)
			}
			b.ReportAllocs()
			before, bytesBefore := mallocs(), allocated()
			i := 0
			for b.Loop() {
				c.HandleFrame(frames[i%2], t0)
				i++
			}
			b.ReportMetric(float64(mallocs()-before)/float64(b.N)/float64(g.size.entities()), "allocs/entity")
			b.ReportMetric(float64(allocated()-bytesBefore)/float64(b.N)/float64(g.size.entities()), "B/entity")
		})
	}
}

// BenchmarkScrapeAllocs reports allocations per exported series as the
// tenant grows: of the Gatherer's Gather, which stay the same whatever
// the size, and of a whole scrape through promhttp, whose text encoder
// adds a few per family that grow with the log of its size (it copies
// each family's list of series to escape names).
func BenchmarkScrapeAllocs(b *testing.B) {
	for _, part := range []string{"gather", "handler"} {
		for _, g := range growth {
			b.Run("part="+part+"/"+g.name, func(b *testing.B) {
				c := newBenchCollector(b)
				c.HandleFrame(tenantFrames(g.size, 1)[0], t0)
				gatherer := c.Gatherer(prometheus.NewRegistry())
				h := promhttp.HandlerForTransactional(gatherer, promhttp.HandlerOpts{})
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				w := &discardResponse{header: http.Header{}}
				scrape := func() { h.ServeHTTP(w, req) }
				if part == "gather" {
					scrape = func() {
						_, done, _ := gatherer.Gather()
						done()
					}
				}
				series := c.collectVendor(make(chan prometheus.Metric, 1<<20))
				// Steady state: the scrape's arrays are there to be reused.
				scrape()
				scrape()
				b.ReportAllocs()
				before := mallocs()
				for b.Loop() {
					scrape()
				}
				b.ReportMetric(float64(mallocs()-before)/float64(b.N)/float64(series), "allocs/series")
			})
		}
	}
}

// BenchmarkHeapPerSeries reports the live heap that holding the large
// tenant's snapshot takes, per vendor series, after a garbage collection.
func BenchmarkHeapPerSeries(b *testing.B) {
	frames := tenantFrames(largeTenant, 2)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var perSeries float64
	for b.Loop() {
		before := heap()
		c := newBenchCollector(b)
		c.HandleFrame(frames[0], t0)
		c.HandleFrame(frames[1], t0)
		after := heap()
		series := c.snapshot.Load().sections[0].series + c.snapshot.Load().sections[1].series +
			c.snapshot.Load().sections[2].series
		perSeries = float64(after-before) / float64(series)
		runtime.KeepAlive(c)
	}
	runtime.KeepAlive(frames)
	b.ReportMetric(perSeries, "heap-bytes/series")
}
