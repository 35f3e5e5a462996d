package explain

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
)

// collectSeries feeds the capture to a collector with the mapping and
// files the series it exports after the last frame under their sections.
func (r *Report) collectSeries(m *collector.Mapping, records []capture.Record) error {
	last := r.Last
	c, err := collector.New(collector.Options{
		Mapping: m,
		// Keep every section the capture held, however old.
		EntityTTL: r.Last.Sub(r.First) + time.Hour,
		Now:       func() time.Time { return last },
	})
	if err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	for _, rec := range records {
		c.HandleFrame([]byte(rec.Frame), rec.ReceivedAt)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("explain: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("explain: gather series: %w", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range families {
		byName[mf.GetName()] = mf
	}

	for _, mr := range r.Messages {
		for _, s := range mr.Sections {
			if s.info == nil {
				continue
			}
			for _, mi := range s.info.Metrics {
				s.Series = append(s.Series, r.seriesOf(mi.Name, byName[mi.Name]))
			}
		}
	}
	return nil
}

func (r *Report) seriesOf(name string, mf *dto.MetricFamily) SeriesReport {
	sr := SeriesReport{Metric: name}
	if mf == nil {
		return sr
	}
	sr.Count = len(mf.GetMetric())
	for _, m := range mf.GetMetric()[:min(r.examples, sr.Count)] {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
		}
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		sr.Examples = append(sr.Examples,
			fmt.Sprintf("%s{%s} %s", name, strings.Join(labels, ","), strconv.FormatFloat(v, 'g', -1, 64)))
	}
	return sr
}

// WriteText writes the report for a reader, followed by the fragment.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.line(0, "Capture %s: %d frames from %s to %s (%d connection events, %d not JSON).",
		r.Capture, r.Frames, r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339),
		r.ConnectionEvents, r.Malformed)
	p.line(0, "Mapping: %s.", r.Mapping)
	for _, mr := range r.Messages {
		p.message(mr)
	}
	if frag := r.Fragment(); frag != nil {
		p.line(0, "")
		p.line(0, "# ---- mapping fragment: edit, then merge into the mapping file ----")
		_, p.err = fmt.Fprintf(p.w, "%s", frag)
	} else {
		p.line(0, "")
		p.line(0, "The mapping covers every field of the capture: no fragment to suggest.")
	}
	return p.err
}

// printer writes indented lines and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(indent int, format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%s%s\n", strings.Repeat("  ", indent), fmt.Sprintf(format, args...))
}

func (p *printer) message(mr *MessageReport) {
	p.line(0, "")
	mapped := "in the mapping"
	if !mr.Mapped {
		mapped = "NOT in the mapping (counted in acqueon_exporter_messages_total only)"
	}
	p.line(0, "Message type %s: %d frames, %s.", mr.Type, mr.Frames, mapped)
	if mr.NotObject > 0 {
		p.line(1, "%d frames have a Data that is no JSON object: nothing in them can be mapped.", mr.NotObject)
	}
	if !mr.Mapped && len(mr.Sections) == 0 && len(mr.UnmappedKeys) == 0 {
		p.line(1, "Data holds no list of objects: nothing to map.")
	}
	for _, k := range mr.UnmappedKeys {
		p.line(1, "Key %s of Data is not mapped (no list of objects; the mapping can only ignore it): %s.",
			k.Name, describeField(k))
	}
	for _, s := range mr.Sections {
		p.section(s)
	}
}

func (p *printer) section(s *SectionReport) {
	if s.Mapped {
		p.line(1, "Section %s (key %s): %s, up to %d in a message; e.g. %s.",
			s.Path, strings.Join(s.Key, ", "), entities(s.Entities), s.MostPerMessage, strings.Join(s.ExampleKeys, ", "))
	} else {
		key := "no field identifies its entries: it cannot be mapped"
		if len(s.Key) > 0 {
			key = "key guessed: " + strings.Join(s.Key, ", ")
		}
		p.line(1, "Section %s is NOT in the mapping (%s): %s, up to %d in a message; e.g. %s.",
			s.Path, key, entities(s.Entities), s.MostPerMessage, strings.Join(s.ExampleKeys, ", "))
	}
	if len(s.occurrences) == 0 && s.Mapped {
		p.line(2, "The capture never carried this section.")
	}
	if s.WithoutKey > 0 {
		p.line(2, "%d entries lack a key field; the mapping refuses their whole message.", s.WithoutKey)
	}
	if len(s.Series) > 0 {
		p.line(2, "Series the mapping makes:")
		for _, sr := range s.Series {
			if sr.Count == 0 {
				p.line(3, "%s: no series", sr.Metric)
				continue
			}
			p.line(3, "%s: %d series, e.g. %s", sr.Metric, sr.Count, strings.Join(sr.Examples, "; "))
		}
	}
	if len(s.Missing) > 0 {
		p.line(2, "Fields the mapping reads that the capture never had: %s.", strings.Join(s.Missing, ", "))
		for _, m := range slices.Sorted(maps.Keys(s.Renamed)) {
			p.line(3, "%s may have been renamed %s.", m, s.Renamed[m])
		}
	}
	if len(s.Unmapped) > 0 {
		p.line(2, "Fields not mapped:")
		for _, f := range s.Unmapped {
			p.line(3, "%s: %s", f.Name, describeField(f))
		}
	}
}

func describeField(f *FieldReport) string {
	examples := ""
	if len(f.Examples) > 0 {
		examples = "; e.g. " + strings.Join(f.Examples, ", ")
	}
	return fmt.Sprintf("%s (%s)%s", f.Kind, f.Why, examples)
}

func entities(n int) string {
	if n == 1 {
		return "1 entity"
	}
	return strconv.Itoa(n) + " entities"
}
