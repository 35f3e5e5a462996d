package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink is the next handler, remembering what reached it.
type sink struct {
	frames   []string
	discards []string
}

func (s *sink) HandleFrame(frame []byte, _ time.Time) { s.frames = append(s.frames, string(frame)) }
func (s *sink) DiscardFrame(reason string)            { s.discards = append(s.discards, reason) }

func readAll(t *testing.T, path string) []Record {
	t.Helper()
	var got []Record
	if err := ReadFile(path, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRecorderKeepsFramesExactlyAndPassesThemOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	next := &sink{}
	rec, err := NewRecorder(next, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 123e6, time.UTC)
	frames := []string{
		`{"Sender":"Server","MessageType":"OpenID","Data":"ec3df1f8b20b4d239354925276a7c989"}`,
		"not json \x00 at all\n",
		`{"MessageType":"AEPerformanceMetrics","Data":"{\"Agents\":[{\"AgentName\":\"J. Doe\"}]}"}`,
	}
	for i, f := range frames {
		rec.HandleFrame([]byte(f), at.Add(time.Duration(i)*time.Second))
	}
	rec.DiscardFrame("too_large")
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	got := readAll(t, path)
	if len(got) != len(frames) {
		t.Fatalf("%d records, want %d", len(got), len(frames))
	}
	for i, f := range frames {
		if got[i].Frame != f || !got[i].ReceivedAt.Equal(at.Add(time.Duration(i)*time.Second)) {
			t.Errorf("record %d = %+v", i, got[i])
		}
	}
	if strings.Join(next.frames, "|") != strings.Join(frames, "|") || len(next.discards) != 1 {
		t.Errorf("next handler saw %v, %v", next.frames, next.discards)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("capture file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRecorderRotatesAtTheSizeCapAndKeepsBackups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	rec, err := NewRecorder(&sink{}, Options{Path: path, MaxBytes: 300, Backups: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		rec.HandleFrame([]byte(fmt.Sprintf(`{"MessageType":"X","Data":"%03d-%s"}`, i, strings.Repeat("x", 40))), time.Unix(0, 0))
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	var all []Record
	for _, p := range []string{path + ".2", path + ".1", path} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Size() > 300 {
			t.Errorf("%s is %d bytes, over the cap", p, st.Size())
		}
		all = append(all, readAll(t, p)...)
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a third backup exists: %v", err)
	}
	// The newest frames survive, in order, across the files.
	last := all[len(all)-1].Frame
	if !strings.Contains(last, `"019-`) {
		t.Errorf("last record %s, want frame 19", last)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Frame >= all[i].Frame {
			t.Errorf("records out of order: %s then %s", all[i-1].Frame, all[i].Frame)
		}
	}
}

func TestRecorderAppendsToAnExistingCapture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	for i := range 2 {
		rec, err := NewRecorder(&sink{}, Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		rec.HandleFrame([]byte(fmt.Sprint(i)), time.Unix(0, 0))
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, path); len(got) != 2 {
		t.Errorf("%d records after two runs, want 2", len(got))
	}
}

func TestAFailingCaptureStillPassesFramesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	next := &sink{}
	rec, err := NewRecorder(next, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	_ = rec.Close() // every write now fails
	rec.HandleFrame([]byte("x"), time.Unix(0, 0))
	if len(next.frames) != 1 {
		t.Error("the frame was lost with the capture")
	}
}

func TestReadNamesTheLineThatIsNotARecord(t *testing.T) {
	in := `{"received_at":"2026-12-03T10:00:00Z","frame":"a"}` + "\n\nnot a record\n"
	err := Read(strings.NewReader(in), "site.jsonl", func(Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "site.jsonl:3:") {
		t.Errorf("err = %v, want one naming site.jsonl:3", err)
	}
}

func TestNewRecorderFailsOnAnUnwritablePath(t *testing.T) {
	_, err := NewRecorder(&sink{}, Options{Path: filepath.Join(t.TempDir(), "missing", "capture.jsonl")})
	if err == nil {
		t.Error("opened a capture in a missing directory")
	}
}
