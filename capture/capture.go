// Package capture records the frames a session receives to a JSON Lines
// file and reads such files back. A capture shows what a site's feed
// really sends, so the mapping can be fitted to it, and the simulator can
// replay it.
//
// Frames may hold personal data, such as agent names: a capture file is
// created readable by its owner only.
package capture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// Handler is what receives frames after the Recorder: the same methods as
// the session's frame handler, so a Recorder can stand in front of it.
type Handler interface {
	HandleFrame(frame []byte, receivedAt time.Time)
	DiscardFrame(reason string)
}

// Record is one line of a capture file.
type Record struct {
	// ReceivedAt is when the exporter read the frame.
	ReceivedAt time.Time `json:"received_at"`
	// Frame is the text frame exactly as received.
	Frame string `json:"frame"`
}

// Options configure a Recorder.
type Options struct {
	// Path is the file frames are appended to.
	Path string
	// MaxBytes is the size at which the file is rotated; 0 means 64 MiB.
	MaxBytes int64
	// Backups is how many rotated files (Path.1 ... Path.N) are kept; 0
	// means 3.
	Backups int
	// Logger receives write errors; nil discards them.
	Logger *slog.Logger
}

// Recorder appends every frame to a capture file, then hands it to the
// next handler. A failing write is logged and the frame still goes on: a
// full disk must not stop the exporter.
type Recorder struct {
	next Handler
	opts Options

	mu       sync.Mutex
	file     *os.File
	buf      *bufio.Writer
	size     int64
	failures int
}

// NewRecorder opens (or creates) the capture file and returns a Recorder
// in front of next.
func NewRecorder(next Handler, opts Options) (*Recorder, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Backups <= 0 {
		opts.Backups = 3
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{next: next, opts: opts}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Recorder) open() error {
	f, err := os.OpenFile(r.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open capture file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("open capture file: %w", err)
	}
	r.file, r.buf, r.size = f, bufio.NewWriterSize(f, 64<<10), st.Size()
	return nil
}

// HandleFrame records frame and passes it on.
func (r *Recorder) HandleFrame(frame []byte, receivedAt time.Time) {
	if err := r.write(frame, receivedAt); err != nil {
		r.failed(err)
	}
	r.next.HandleFrame(frame, receivedAt)
}

// DiscardFrame passes the discard on; such frames are not recorded.
func (r *Recorder) DiscardFrame(reason string) { r.next.DiscardFrame(reason) }

func (r *Recorder) write(frame []byte, receivedAt time.Time) error {
	line, err := json.Marshal(Record{ReceivedAt: receivedAt.UTC(), Frame: string(frame)})
	if err != nil {
		return err
	}
	line = append(line, '\n')

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return errors.New("capture file is closed")
	}
	if r.size > 0 && r.size+int64(len(line)) > r.opts.MaxBytes {
		if err := r.rotate(); err != nil {
			return err
		}
	}
	n, err := r.buf.Write(line)
	r.size += int64(n)
	if err != nil {
		return err
	}
	// One frame a line, flushed at once: a capture cut short by a crash
	// still ends on a whole record.
	return r.buf.Flush()
}

// rotate shifts Path.N-1 to Path.N ... Path to Path.1 and starts afresh.
func (r *Recorder) rotate() error {
	if err := r.buf.Flush(); err != nil {
		return err
	}
	if err := r.file.Close(); err != nil {
		return err
	}
	r.file = nil
	for i := r.opts.Backups - 1; i >= 1; i-- {
		from := r.opts.Path + "." + strconv.Itoa(i)
		if err := os.Rename(from, r.opts.Path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate capture file: %w", err)
		}
	}
	if err := os.Rename(r.opts.Path, r.opts.Path+".1"); err != nil {
		return fmt.Errorf("rotate capture file: %w", err)
	}
	return r.open()
}

// failed logs write errors: the first, then every hundredth.
func (r *Recorder) failed(err error) {
	r.mu.Lock()
	r.failures++
	n := r.failures
	r.mu.Unlock()
	if n == 1 || n%100 == 0 {
		r.opts.Logger.Warn("Cannot write to the capture file", "path", r.opts.Path, "failures", n, "err", err)
	}
}

// Close flushes and closes the capture file.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == nil {
		return nil
	}
	err := errors.Join(r.buf.Flush(), r.file.Close())
	r.file = nil
	return err
}

// maxLine bounds one record when reading; it matches the largest frame
// the exporter accepts by default, with room for escaping.
const maxLine = 128 << 20

// Read calls fn for every record of a capture, in order. A line that is
// not a record stops the reading with an error that names the line.
func Read(rd io.Reader, name string, fn func(Record) error) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("%s:%d: not a capture record: %w", name, line, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// ReadFile is Read on a file.
func ReadFile(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open capture: %w", err)
	}
	defer f.Close()
	return Read(f, path, fn)
}
