package main

import (
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/wsclient"
)

// recordOptions are the --record.* flags: a capture of every frame the
// session receives, for fitting the mapping and for --demo.replay.
type recordOptions struct {
	file    string
	maxSize int64
	backups int
}

func addRecordFlags(app *kingpin.Application, opts *recordOptions) {
	app.Flag("record.file", "Append every frame received from the feed, with its receive time, to this "+
		"file as JSON Lines (for mapping explain and --demo.replay). Frames may hold personal data "+
		"such as agent names. Empty: off.").
		StringVar(&opts.file)
	maxSize := app.Flag("record.max-size", "Size at which the capture file is rotated, e.g. 64MiB.").
		Default("64MiB").Bytes()
	app.Flag("record.backups", "Rotated capture files kept (FILE.1 ... FILE.N).").
		Default("3").IntVar(&opts.backups)
	app.PreAction(func(*kingpin.ParseContext) error {
		opts.maxSize = int64(*maxSize)
		return nil
	})
}

// withRecorder puts a capture.Recorder in front of next when --record.file
// is set. The returned close flushes and closes the capture file.
func withRecorder(opts recordOptions, next wsclient.Handler, logger *slog.Logger) (wsclient.Handler, func(), error) {
	if opts.file == "" {
		return next, func() {}, nil
	}
	if opts.maxSize <= 0 || opts.backups < 1 {
		return nil, nil, errors.New("--record.max-size must be above 0 and --record.backups at least 1")
	}
	rec, err := capture.NewRecorder(next, capture.Options{
		Path:     opts.file,
		MaxBytes: opts.maxSize,
		Backups:  opts.backups,
		Logger:   logger,
	})
	if err != nil {
		return nil, nil, err
	}
	logger.Info("Recording the frames of the feed; they may hold personal data such as agent names",
		"path", opts.file, "max_size_bytes", opts.maxSize, "backups", opts.backups)
	return rec, func() {
		if err := rec.Close(); err != nil {
			logger.Warn("Cannot close the capture file", "path", opts.file, "err", err)
		}
	}, nil
}
